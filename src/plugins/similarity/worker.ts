/**
 * The similarity analysis, run in a child process of its own (see analysis.ts for why): it gets
 * the documents over IPC, runs Dolos (tree-sitter tokens, winnowed k-gram fingerprints) and sends
 * back progress and the ranked pairs with their matching fragments. It imports nothing of the
 * server, so it stays outside the server bundle and loads the native parsers only here.
 */
import { File, FingerprintIndex, LanguagePicker, Options, Report, type Pair } from '@dodona/dolos-lib';
import type { AnalysisInput, AnalysisMessage, AnalysisResult, FragmentOut, PairOut } from './types.js';

function send(message: AnalysisMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, () => resolve());
  });
}

let lastProgress = 0;
async function progress(fraction: number, stage: string): Promise<void> {
  // At most a hundred messages a run: progress is for a person watching a bar.
  if (fraction < 1 && fraction - lastProgress < 0.01) return;
  lastProgress = fraction;
  await send({ type: 'progress', fraction, stage });
}

function region(r: { startRow: number; startCol: number; endRow: number; endCol: number }) {
  return { startRow: r.startRow, startCol: r.startCol, endRow: r.endRow, endCol: r.endCol };
}

async function analyse(input: AnalysisInput): Promise<AnalysisResult> {
  const options = new Options({ language: input.language, kgramLength: input.kgramLength, kgramsInWindow: input.kgramsInWindow });
  const picker = new LanguagePicker();
  const files = input.documents.map((d) => new File(d.path, d.text));
  const language = await picker.findLanguage(input.language);
  const tokenizer = await language.createTokenizer({ includeComments: false });
  const index = new FingerprintIndex(options.kgramLength, options.kgramsInWindow, false);
  // Code in more than this many documents is common knowledge (a given helper, the usual idiom).
  const maxCount = input.documents.length > 2 ? Math.max(2, input.maxShare * input.documents.length) : undefined;
  index.updateMaxFingerprintFileCount(maxCount);
  const tokenized = [];
  for (const [i, f] of files.entries()) {
    tokenized.push(tokenizer.tokenizeFile(f));
    await progress((0.6 * (i + 1)) / files.length, 'reading the code');
  }
  await progress(0.65, 'comparing');
  index.addFiles(tokenized);
  const warnings: string[] = [];
  if (input.starter) index.addIgnoredFile(tokenizer.tokenizeFile(new File(input.starter.path, input.starter.text)));
  const report = new Report(options, language, tokenized, index);
  const all = report.allPairs().filter((p: Pair) => p.similarity > 0);
  all.sort((x: Pair, y: Pair) => y.similarity - x.similarity || y.longest - x.longest);
  const kept = all.slice(0, input.maxPairs);
  const pairs: PairOut[] = [];
  for (const [i, p] of kept.entries()) {
    let fragments: FragmentOut[] = [];
    if (i < input.fragmentsFor) {
      fragments = p.buildFragments().map((f) => ({ left: region(f.leftSelection), right: region(f.rightSelection) }));
    }
    pairs.push({ left: p.leftFile.path, right: p.rightFile.path, similarity: p.similarity, longest: p.longest, overlap: p.overlap, fragments });
    await progress(0.7 + (0.3 * (i + 1)) / kept.length, 'finding the matching fragments');
  }
  return { language: language.name, pairs, totalPairs: all.length, warnings };
}

process.on('message', (raw) => {
  const input = raw as AnalysisInput;
  analyse(input).then(
    async (result) => {
      await send({ type: 'done', result, maxRssKb: process.resourceUsage().maxRSS });
      process.exit(0);
    },
    async (err: unknown) => {
      await send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
});

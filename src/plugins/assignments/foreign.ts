import { cp, lstat, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Layout } from './config.js';

/**
 * Autograders written for other systems, imported as they are: a Gradescope autograder zip
 * (run_autograder, usually setup.sh, at the top) or a PrairieLearn question with an external
 * grader (info.json with externalGradingOptions, tests/). Without an assignment.yaml such a
 * bundle gets one with defaults (and a statement.md), written into a copy of the bundle so the
 * lecturer's own folder is never changed; the result is an ordinary bundle they can edit.
 */

async function isFile(file: string): Promise<boolean> {
  try {
    return (await lstat(file)).isFile();
  } catch {
    return false;
  }
}

interface PrairieLearnInfo {
  title?: unknown;
  externalGradingOptions?: { enabled?: unknown; entrypoint?: unknown; timeout?: unknown };
}

async function readInfo(dir: string): Promise<PrairieLearnInfo | null> {
  try {
    const info = JSON.parse(await readFile(path.join(dir, 'info.json'), 'utf8')) as PrairieLearnInfo;
    return info && typeof info === 'object' && info.externalGradingOptions && typeof info.externalGradingOptions === 'object' ? info : null;
  } catch {
    return null;
  }
}

/** Which foreign layout a bundle folder is in, judged by the files at its top level. */
export async function detectLayout(dir: string): Promise<Exclude<Layout, 'lectern'> | null> {
  if (await isFile(path.join(dir, 'run_autograder'))) return 'gradescope';
  if (await readInfo(dir)) return 'prairielearn';
  return null;
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

function titleOf(slug: string): string {
  const t = slug.replace(/[-_]+/g, ' ').trim();
  return t ? t[0]!.toUpperCase() + t.slice(1) : 'Assignment';
}

/** The file names a PrairieLearn question asks for (pl-file-upload file-names, pl-file-editor file-name). */
async function prairieLearnFiles(dir: string): Promise<string[]> {
  let html: string;
  try {
    html = await readFile(path.join(dir, 'question.html'), 'utf8');
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const m of html.matchAll(/<pl-file-(?:upload|editor)\b[^>]*?\bfile-names?\s*=\s*"([^"]*)"/g)) {
    for (const n of m[1]!.split(',')) if (/^[A-Za-z0-9_.-]+$/.test(n.trim())) names.add(n.trim());
  }
  return [...names];
}

function entrypointArgv(v: unknown): string[] | null {
  if (typeof v === 'string' && v.trim()) return v.trim().split(/\s+/);
  if (Array.isArray(v) && v.length && v.every((x) => typeof x === 'string' && x)) return v as string[];
  return null;
}

/** assignment.yaml text for a foreign bundle: every default written out, to be edited. */
export async function defaultConfigYaml(dir: string, layout: Exclude<Layout, 'lectern'>, slug: string, now: number): Promise<{ yaml: string; title: string }> {
  // Open now; due in two weeks at the end of the day (UTC): the lecturer sets the real dates.
  const deadline = new Date(now + 14 * 86_400_000);
  deadline.setUTCHours(23, 59, 0, 0);
  const deadlineText = deadline.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (layout === 'gradescope') {
    const title = titleOf(slug);
    const hasSetup = await isFile(path.join(dir, 'setup.sh'));
    return {
      title,
      yaml: [
        '# Written by Lectern for a Gradescope autograder uploaded without an assignment.yaml.',
        '# Change it on the staff page (upload again with this file beside run_autograder).',
        `title: ${yamlString(title)}`,
        `deadline: ${deadlineText}`,
        "files: ['*']",
        'max_files: 50',
        'max_upload_size: 10MB',
        'layout: gradescope',
        'test:',
        '  command: [/autograder/run_autograder]',
        '  limits:',
        '    wall: 10m',
        '    memory: 768MB',
        '    processes: 256',
        '    work_dir: 512MB',
        'feedback:',
        '  tests: visible',
        '  output: visible',
        '  score: visible',
        ...(hasSetup
          ? ['# setup.sh is not run as it is: name what it installs under environment: (debian: [...], python: [...]),', '# or add "setup: setup.sh" there to run it once when the environment is built.']
          : []),
        '',
      ].join('\n'),
    };
  }
  const info = (await readInfo(dir))!;
  const title = typeof info.title === 'string' && info.title.trim() ? info.title.trim().slice(0, 200) : titleOf(slug);
  const opts = info.externalGradingOptions!;
  const argv = entrypointArgv(opts.entrypoint) ?? ['/grade/tests/run.sh'];
  const timeout = typeof opts.timeout === 'number' && opts.timeout > 0 ? Math.min(1800, Math.ceil(opts.timeout)) : 30;
  const files = await prairieLearnFiles(dir);
  return {
    title,
    yaml: [
      '# Written by Lectern for a PrairieLearn question with an external grader (info.json).',
      `title: ${yamlString(title)}`,
      `deadline: ${deadlineText}`,
      `files: [${(files.length ? files : ['*']).map((f) => yamlString(f)).join(', ')}]`,
      'max_files: 50',
      'max_upload_size: 10MB',
      'layout: prairielearn',
      'test:',
      `  command: [${argv.map(yamlString).join(', ')}]`,
      '  limits:',
      `    wall: ${timeout}s`,
      '    memory: 512MB',
      '    processes: 128',
      'feedback:',
      '  tests: visible',
      '  output: visible',
      '  score: visible',
      '',
    ].join('\n'),
  };
}

/**
 * A copy of `dir` with a default assignment.yaml (and statement.md) when it is a foreign
 * autograder without one; null when it needs nothing. The caller removes the copy.
 */
export async function adoptForeignBundle(dir: string, opts: { slug: string; now: number; tmpDir: string }): Promise<string | null> {
  if (await isFile(path.join(dir, 'assignment.yaml'))) return null;
  const layout = await detectLayout(dir);
  if (!layout) return null;
  const copy = await mkdtemp(path.join(opts.tmpDir, 'foreign-'));
  try {
    await cp(dir, copy, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    const { yaml, title } = await defaultConfigYaml(dir, layout, opts.slug, opts.now);
    await writeFile(path.join(copy, 'assignment.yaml'), yaml);
    if (!(await isFile(path.join(copy, 'statement.md')))) {
      const what = layout === 'gradescope' ? 'a Gradescope autograder' : 'a PrairieLearn external grader';
      await writeFile(path.join(copy, 'statement.md'), `# ${title}\n\nSubmit your files here; they are tested automatically by ${what}.\n`);
    }
    return copy;
  } catch (err) {
    await rm(copy, { recursive: true, force: true });
    throw err;
  }
}

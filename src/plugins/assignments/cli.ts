import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command, Deps } from '../../plugin.js';
import { ArchiveError, bundleArchiveLimits, extractArchive, unwrapSingleFolder } from './archive.js';
import { formatProblem } from './config.js';
import { importBundle } from './store.js';
import { holdUntilChecked } from '../autotest/self-check-gate.js';

const USAGE = 'usage: lectern assignment import PATH --course COURSE [--slug SLUG]\n  PATH is a bundle folder, or a .zip / .tar.gz of one\n';

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}
function err(text: string): void {
  process.stderr.write(`${text}\n`);
}

function parseArgs(args: string[]): { path: string; course: string; slug: string | null } | null {
  let file: string | null = null;
  let course: string | null = null;
  let slug: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--course' || a === '--slug') {
      const v = args[++i];
      if (!v) return null;
      if (a === '--course') course = v;
      else slug = v;
    } else if (a.startsWith('--course=')) course = a.slice(9);
    else if (a.startsWith('--slug=')) slug = a.slice(7);
    else if (a.startsWith('-')) return null;
    else if (file === null) file = a;
    else return null;
  }
  return file && course ? { path: file, course, slug } : null;
}

/** `lectern assignment import PATH --course C`: the same import as the web upload and the course folder. */
export const assignmentCommand: Command = {
  summary: 'import PATH --course C [--slug S]: import an assignment bundle (folder, .zip or .tar.gz)',
  async run(args: string[], deps: Deps): Promise<number> {
    const [sub, ...rest] = args;
    if (sub !== 'import') {
      err(USAGE);
      return 2;
    }
    const parsed = parseArgs(rest);
    if (!parsed) {
      err(USAGE);
      return 2;
    }
    const source = path.resolve(parsed.path);
    let info;
    try {
      info = await stat(source);
    } catch {
      err(`lectern: ${parsed.path}: no such file or folder`);
      return 1;
    }
    let work: string | null = null;
    try {
      let dir = source;
      let defaultSlug = path.basename(source);
      if (info.isFile()) {
        work = await mkdtemp(path.join(os.tmpdir(), 'lectern-bundle-'));
        try {
          await extractArchive(source, work, bundleArchiveLimits(deps.config));
        } catch (e) {
          if (e instanceof ArchiveError) {
            err(`lectern: ${parsed.path}: ${e.message}`);
            return 1;
          }
          throw e;
        }
        const { root, folder } = await unwrapSingleFolder(work);
        dir = root;
        defaultSlug = folder ?? path.basename(source).replace(/\.(zip|tar\.gz|tgz)$/i, '');
      }
      const slug = parsed.slug ?? defaultSlug.toLowerCase();
      const result = await importBundle(deps, { course: parsed.course, slug, dir, source: 'cli', createdBy: 'command line', hold: holdUntilChecked(deps) });
      if (!result.ok) {
        err(`lectern: ${parsed.path} was not imported (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}):`);
        for (const p of result.problems) err(`  ${formatProblem(p)}`);
        return 1;
      }
      const what = {
        created: `imported as version ${result.version.number} (now current)`,
        unchanged: `unchanged: identical to version ${result.version.number}, the current one`,
        switched: `identical to version ${result.version.number}, which is current again`,
        held:
          result.assignment.currentVersionId === null
            ? `imported as version ${result.version.number}; it becomes current when its self-check passes (the assignment is not open to students until then)`
            : `imported as version ${result.version.number}; it becomes current when its self-check passes (the current version serves students until then)`,
      }[result.outcome];
      deps.log.info({ course: parsed.course, slug, outcome: result.outcome, version: result.version.number }, 'assignment imported from the command line');
      out(`${parsed.course}/${slug}: ${what}`);
      return 0;
    } finally {
      if (work) await rm(work, { recursive: true, force: true });
    }
  },
};

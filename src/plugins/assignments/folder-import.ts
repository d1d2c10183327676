import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Deps } from '../../plugin.js';
import { holdUntilChecked } from '../autotest/self-check-gate.js';
import { formatProblem } from './config.js';
import { uploadTmpDir, type FolderProblems } from './present.js';
import { importBundle, SLUG } from './store.js';

/**
 * Imports every bundle folder under <course>/assignments/ that is new or changed since the last
 * start (by content hash). A broken bundle is reported to the lecturer and skipped; it never
 * stops the server.
 */
export async function importCourseFolders(deps: Deps, problems: FolderProblems): Promise<void> {
  for (const course of deps.content.courses) {
    const root = path.join(course.dir, 'assignments');
    let entries;
    try {
      entries = await readdir(root, { withFileTypes: true });
    } catch {
      continue;
    }
    const found = new Map<string, string[]>();
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      if (!SLUG.test(e.name) || e.name === 'new') {
        found.set(e.name, [`${e.name}: the folder name is the assignment id: use lowercase letters, digits and dashes (not "new")`]);
        continue;
      }
      try {
        const result = await importBundle(deps, { course: course.slug, slug: e.name, dir: path.join(root, e.name), source: 'folder', createdBy: 'course folder', hold: holdUntilChecked(deps) });
        if (!result.ok) {
          const list = result.problems.map(formatProblem);
          found.set(e.name, list);
          deps.log.error({ course: course.slug, slug: e.name, problems: list }, 'assignment bundle in the course folder not imported');
        } else if (result.outcome !== 'unchanged') {
          deps.log.info({ course: course.slug, slug: e.name, outcome: result.outcome, version: result.version.number }, 'assignment bundle imported from the course folder');
        }
      } catch (err) {
        found.set(e.name, [`${e.name}: could not be read (${(err as Error).message})`]);
        deps.log.error({ err, course: course.slug, slug: e.name }, 'assignment bundle in the course folder failed to import');
      }
    }
    problems.set(course.slug, found);
  }
}

/**
 * Leftovers of uploads cut off by a crash; old ones only, since another process may be mid-upload.
 * File ages are wall-clock time, so this compares with Date.now() rather than the app clock.
 */
export async function sweepUploads(deps: Deps): Promise<void> {
  const dir = uploadTmpDir(deps);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const cutoff = Date.now() - 3600_000;
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      if ((await stat(file)).mtimeMs < cutoff) await rm(file, { recursive: true, force: true });
    } catch (err) {
      deps.log.warn({ err, file }, 'could not remove an old upload');
    }
  }
}

import { structuredPatch } from 'diff';
import type { BlobStore } from '../../lib/blobs.js';
import type { SubmissionFile } from '../submissions/store.js';
import { textForDiff } from './files.js';

export interface DiffLine {
  kind: 'add' | 'del' | 'ctx' | 'hunk';
  text: string;
  oldN: number | null;
  newN: number | null;
}

export interface FileDiff {
  name: string;
  change: 'added' | 'removed' | 'changed' | 'same' | 'binary' | 'too_different';
  lines: DiffLine[];
  added: number;
  removed: number;
}

/** Every file of two submissions compared: added, removed, unchanged, or a unified diff of its lines. */
export async function diffSubmissions(blobs: BlobStore, older: SubmissionFile[], newer: SubmissionFile[]): Promise<FileDiff[]> {
  const names = [...new Set([...older.map((f) => f.name), ...newer.map((f) => f.name)])].sort();
  const out: FileDiff[] = [];
  for (const name of names) {
    const a = older.find((f) => f.name === name);
    const b = newer.find((f) => f.name === name);
    if (a && b && a.sha256 === b.sha256) {
      out.push({ name, change: 'same', lines: [], added: 0, removed: 0 });
      continue;
    }
    const at = a ? await textForDiff(blobs, a) : '';
    const bt = b ? await textForDiff(blobs, b) : '';
    if (at === null || bt === null) {
      out.push({ name, change: 'binary', lines: [], added: 0, removed: 0 });
      continue;
    }
    // A time limit: two unrelated 2,000-line files must not hold the request for long.
    const patch = structuredPatch(name, name, at, bt, undefined, undefined, { context: 3, timeout: 2000 });
    if (!patch) {
      out.push({ name, change: 'too_different', lines: [], added: 0, removed: 0 });
      continue;
    }
    const lines: DiffLine[] = [];
    let added = 0;
    let removed = 0;
    for (const h of patch.hunks) {
      lines.push({ kind: 'hunk', text: `@@ −${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, oldN: null, newN: null });
      let o = h.oldStart;
      let n = h.newStart;
      for (const l of h.lines) {
        const mark = l[0];
        const text = l.slice(1);
        if (mark === '+') {
          lines.push({ kind: 'add', text, oldN: null, newN: n++ });
          added += 1;
        } else if (mark === '-') {
          lines.push({ kind: 'del', text, oldN: o++, newN: null });
          removed += 1;
        } else if (mark === ' ') {
          lines.push({ kind: 'ctx', text, oldN: o++, newN: n++ });
        }
      }
    }
    out.push({ name, change: !a ? 'added' : !b ? 'removed' : 'changed', lines, added, removed });
  }
  return out;
}

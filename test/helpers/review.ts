import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { Agent } from './index.js';
import { copyDemoContent } from './content.js';
import { upload, waitForResult } from './submit.js';

/**
 * Course content for the review tests: the demo course plus
 * - `reviewed`: main.c + notes.txt; its tests always score 6 of 10 (one visible test, one hidden);
 *   the final score is autotest (worth 60) + manual (worth 40); a negative Style group (max 4) and
 *   a positive Design group (max 6); 10 % late penalty per started day; regrades for 2 days.
 * - `project`: one project.zip, graded by hand only (one group, max 10).
 */
export const REVIEWED_DEADLINE = '2026-10-10T23:59:00+02:00';

export function reviewContent(options: { tutorsCan?: string[] } = {}): string {
  const dir = copyDemoContent();
  if (options.tutorsCan) {
    const file = path.join(dir, 'course.yaml');
    writeFileSync(file, `${readFileSync(file, 'utf8')}tutors_can: [${options.tutorsCan.join(', ')}]\n`);
  }
  const a = path.join(dir, 'assignments', 'reviewed');
  mkdirSync(path.join(a, 'tests'), { recursive: true });
  writeFileSync(
    path.join(a, 'assignment.yaml'),
    `title: Reviewed work
opens: 2026-09-01T08:00:00+02:00
deadline: ${REVIEWED_DEADLINE}
late:
  penalty_per_day: 10
  cap: 50
  hard_close: 30d
files: [main.c, notes.txt]
max_upload_size: 512KB
max_files: 2
test:
  command: [/bin/sh, tests/run.sh]
  limits:
    wall: 10s
    memory: 256MB
grading:
  final: autotest + manual
  weights: { autotest: 60, manual: 40 }
  regrade_window: 2d
  rubric:
    - group: Style
      max: 4
      scoring: negative
      items:
        - { key: names, title: Unclear names, points: -1 }
        - { key: magic, title: Magic numbers, points: -2 }
    - group: Design
      max: 6
      items:
        - { key: structure, title: Clear structure, points: 4 }
        - { key: tests, title: Own tests, points: 2 }
`,
  );
  writeFileSync(path.join(a, 'statement.md'), '# Reviewed work\n');
  writeFileSync(
    path.join(a, 'tests', 'fixed.json'),
    JSON.stringify({
      score: 6,
      max_score: 10,
      tests: [
        { name: 'visible check', score: 3, max_score: 5, status: 'failed', visibility: 'visible' },
        { name: 'secret check', score: 3, max_score: 5, status: 'failed', output: 'expected 42', visibility: 'hidden' },
      ],
    }),
  );
  writeFileSync(path.join(a, 'tests', 'run.sh'), '#!/bin/sh\ncp tests/fixed.json results.json\n');
  chmodSync(path.join(a, 'tests', 'run.sh'), 0o755);

  const p = path.join(dir, 'assignments', 'project');
  mkdirSync(path.join(p, 'tests'), { recursive: true });
  writeFileSync(
    path.join(p, 'assignment.yaml'),
    `title: Project
opens: 2026-09-01T08:00:00+02:00
deadline: 2026-12-10T23:59:00+01:00
files: [project.zip]
max_upload_size: 4MB
test:
  command: [/bin/sh, tests/run.sh]
  limits:
    wall: 10s
    memory: 256MB
grading:
  final: manual
  regrade_window: 0
  rubric:
    - group: Overall
      max: 10
      items:
        - { title: Works, points: 6 }
        - { title: Readable, points: 4 }
`,
  );
  writeFileSync(path.join(p, 'statement.md'), '# Project\n');
  writeFileSync(path.join(p, 'tests', 'run.sh'), '#!/bin/sh\nexit 0\n');
  chmodSync(path.join(p, 'tests', 'run.sh'), 0o755);
  return dir;
}

/** A C file of `lines` lines (line n says which it is). */
export function cSource(lines: number): string {
  const out = ['#include <stdio.h>', 'int main(void) {'];
  for (let n = 3; n < lines; n++) out.push(`  printf("%d\\n", ${n}); /* line ${n} */`);
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** Uploads main.c + notes.txt to `reviewed` and waits for the (fixed) test result. */
export async function submitReviewed(agent: Agent, main = cSource(40), notes = 'Notes.\n'): Promise<number> {
  const res = await upload(agent, 'prog1', 'reviewed', [
    { name: 'main.c', content: main },
    { name: 'notes.txt', content: notes },
  ]);
  expect(res.status, await res.clone().text()).toBe(201);
  const { id } = (await res.json()) as { id: number };
  await waitForResult(agent, 'prog1', id, 120_000);
  return id;
}

export const JSON_HEADERS = { accept: 'application/json' };

export async function getJson<T = Record<string, unknown>>(agent: Agent, url: string): Promise<{ status: number; body: T }> {
  const res = await agent.fetch(url, { headers: JSON_HEADERS });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
}

export async function postJson<T = Record<string, unknown>>(agent: Agent, url: string, form: Record<string, string>): Promise<{ status: number; body: T }> {
  const res = await agent.post(url, form, { headers: JSON_HEADERS });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
}

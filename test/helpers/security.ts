import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { copyDemoContent } from './content.js';

export const OTHER_LECTURER = 'other-lecturer@example.org';
export const OTHER_TUTOR = 'other-tutor@example.org';

/**
 * The demo course prog1 (lecturer@example.org, tutor@example.org and `prog1Staff`) beside a
 * second course "other" with its own lecturer and tutor: the two-course site the authorization
 * tests attack across.
 */
export function twoCourseContent(prog1Staff: Array<{ email: string; role: 'tutor' | 'lecturer' }> = []): string {
  const dir = copyDemoContent();
  if (prog1Staff.length) appendFileSync(path.join(dir, 'course.yaml'), prog1Staff.map((s) => `  - email: ${s.email}\n    role: ${s.role}\n`).join(''));
  mkdirSync(path.join(dir, 'courses', 'other', 'pages'), { recursive: true });
  writeFileSync(
    path.join(dir, 'courses', 'other', 'course.yaml'),
    ['slug: other', 'title: Other Course', 'code: OTH', 'term: Autumn 2026', 'timezone: Europe/Stockholm', 'staff:', `  - email: ${OTHER_LECTURER}`, '    role: lecturer', `  - email: ${OTHER_TUTOR}`, '    role: tutor', ''].join('\n'),
  );
  writeFileSync(path.join(dir, 'courses', 'other', 'pages', 'index.md'), '---\ntitle: Other\nvisibility: public\n---\n# Other course\n');
  return dir;
}

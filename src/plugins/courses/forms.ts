import { z } from 'zod';
import { COURSE_SLUG, isTimeZone } from '../../lib/content.js';
import { isEmail, normaliseEmail } from '../accounts/users.js';

/** Every problem of these forms is a 400 naming the field, as before they had schemas. */
const status = { status: 400 };

/** A text field, trimmed; `required` refuses an empty one. */
function text(max: number, required: boolean) {
  return z
    .string()
    .default('')
    .transform((v) => v.trim())
    .refine((v) => !required || v !== '', { message: 'is required.', params: status })
    .refine((v) => v.length <= max, { message: `at most ${max} characters.`, params: status });
}

/** An e-mail address, normalised; the message quotes what was typed. */
function email() {
  return z
    .string()
    .default('')
    .superRefine((v, ctx) => {
      if (!isEmail(normaliseEmail(v))) ctx.addIssue({ code: 'custom', message: `"${v.slice(0, 80)}" is not an e-mail address.`, params: status });
    })
    .transform((v) => normaliseEmail(v));
}

/** The settings of a course made on the web (the slug comes from the URL or the new-course form). */
const settings = {
  timezone: text(64, false)
    .transform((v) => v || 'UTC')
    .refine(isTimeZone, { message: 'not a known IANA time zone, like Europe/Stockholm.', params: status }),
  title: text(200, true),
  code: text(40, false),
  term: text(80, false),
  description: text(2000, false),
};

export const settingsForm = z.object(settings);

export const newCourseForm = z.object({
  slug: z
    .string()
    .default('')
    .transform((v) => v.trim().toLowerCase())
    .refine((v) => COURSE_SLUG.test(v), { message: 'lowercase letters, digits and dashes, starting with a letter or digit (at most 64).', params: status }),
  ...settings,
  /** Lecturers to appoint at once: addresses separated by spaces, commas or semicolons. */
  lecturers: z
    .string()
    .default('')
    .transform((v) => v.split(/[\s,;]+/).filter(Boolean))
    .superRefine((list, ctx) => {
      const bad = list.find((e) => !isEmail(normaliseEmail(e)));
      if (bad !== undefined) ctx.addIssue({ code: 'custom', message: `"${bad.slice(0, 80)}" is not an e-mail address.`, params: status });
    })
    .transform((list) => list.map(normaliseEmail)),
});

export const staffForm = z.object({
  role: z.enum(['tutor', 'lecturer'], { error: 'choose tutor or lecturer.' }).default('tutor'),
  email: email(),
  name: text(200, false),
});

export const staffRemoveForm = z.object({ user: z.string().optional() });

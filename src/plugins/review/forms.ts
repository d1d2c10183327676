import { z } from 'zod';
import { validate } from '../../core/routes.js';

/**
 * The forms of manual grading as schemas, with the messages and statuses the pages and API clients
 * have always had: a failure answers "<field>: <message>" (src/core/routes.ts validate()).
 */

const ID = /^\d{1,12}$/;

/** Whether a text is an id (1 to 12 digits). */
export const isId = (text: string): boolean => ID.test(text);

/** A positive whole number (an id, a line number): 400 "<field>: give a number." otherwise. */
export const id = z
  .string({ error: 'give a number.' })
  .regex(ID, { error: 'give a number.' })
  .transform((v) => Number(v));

/** An id that may be left out or empty (undefined when absent, null when empty). */
export const optionalId = z
  .string()
  .optional()
  .refine((v) => !v || ID.test(v), { error: 'give a number.', params: { status: 400 } })
  .transform((v) => (v === undefined ? undefined : v === '' ? null : Number(v)));

/** One of `choices`, 400 with `message` otherwise. */
export function choice<const T extends readonly [string, ...string[]]>(choices: T, message: string) {
  return z.enum(choices, { error: message });
}

/** A number of points (may be negative, at most three decimals), 400 naming the field otherwise. */
export function points(opts: { min?: number; max?: number } = {}) {
  const min = opts.min ?? -1000;
  const max = opts.max ?? 1000;
  return z
    .string()
    .optional()
    .transform((value, c) => {
      const text = (value ?? '').trim().replace(',', '.').replace('−', '-');
      const n = /^[-+]?\d{1,6}(\.\d{1,3})?$/.test(text) ? Number(text) : NaN;
      if (!Number.isFinite(n)) {
        c.addIssue({ code: 'custom', message: 'give a number of points, like 2 or -0.5.', params: { status: 400 } });
        return z.NEVER;
      }
      if (n < min || n > max) {
        c.addIssue({ code: 'custom', message: `must be between ${min} and ${max}.`, params: { status: 400 } });
        return z.NEVER;
      }
      return n;
    });
}

/** Markdown text: line ends normalised, NULs dropped, trimmed; 400 when required and empty, 422 when longer than `max`. */
export function text(max: number, required = true) {
  return z
    .string()
    .optional()
    .transform((value, c) => {
      const t = (value ?? '').replace(/\r\n?/g, '\n').split('\u0000').join('').trim();
      if (required && !t) {
        c.addIssue({ code: 'custom', message: 'write something.', params: { status: 400 } });
        return z.NEVER;
      }
      if (t.length > max) {
        c.addIssue({ code: 'custom', message: `at most ${max} characters (this has ${t.length}).`, params: { status: 422 } });
        return z.NEVER;
      }
      return t;
    });
}

/** A route parameter or single value checked as an id, 400 "<field>: give a number." otherwise. */
export function idParam(value: string | undefined, field: string): number {
  return validate(z.object({ [field]: id }), { [field]: value })[field] as number;
}

/** Where a form goes back to (checked by backTo). */
const back = z.string().optional();

export const MAX_COMMENT = 10_000;
export const MAX_REASON = 500;
export const MAX_MESSAGE = 4000;

// ---- grading a submission ----

export const applyItemForm = z.object({
  applied: z.string().optional().refine((v) => ['0', '1', 'on', 'true', 'false'].includes(v ?? ''), { error: 'give 1 to apply the item or 0 to remove it.', params: { status: 400 } }),
  item: id,
  file: z.string().optional(),
  back,
});

export const adjustmentForm = z.object({
  points: points().refine((n) => n !== 0, { error: 'an adjustment of 0 changes nothing.', params: { status: 400 } }),
  reason: text(MAX_REASON),
  back,
});

export const emptyForm = z.object({ back });

export const commentForm = z.object({
  path: z.string().optional(),
  from: id.refine((n) => n >= 1, { error: 'lines are numbered from 1.', params: { status: 400 } }),
  to: optionalId,
  body: text(MAX_COMMENT),
  item: optionalId,
  back,
});

export const commentEditForm = z.object({ body: text(MAX_COMMENT), item: optionalId, back });

export const stateForm = z.object({
  state: choice(['graded', 'in_progress'], 'choose graded or in_progress.'),
  next: z.string().optional(),
  grader: z.string().optional(),
});

export const releaseForm = z.object({
  action: choice(['release', 'withdraw'], 'choose release or withdraw.').optional(),
});

export const diffQuery = z.object({ against: id });

// ---- rubric ----

export const groupForm = z.object({
  title: text(200),
  max: points({ min: 0, max: 1000 }),
  scoring: choice(['positive', 'negative'], 'choose positive or negative.').optional().transform((v) => v ?? 'positive'),
});

const itemFields = { title: text(200), description: text(2000, false), points: points() };
export const itemForm = z.object(itemFields);
export const newItemForm = z.object({ group: id, ...itemFields });

// ---- the grading queue ----

/** A grader filter: any (also empty), none, me, or a user id; 400 "grader: give a number." otherwise. */
const graderFilter = z
  .string()
  .optional()
  .transform((v, c): number | 'any' | 'none' | 'me' => {
    if (!v || v === 'any') return 'any';
    if (v === 'none' || v === 'me') return v;
    if (ID.test(v)) return Number(v);
    c.addIssue({ code: 'custom', message: 'give a number.', params: { status: 400 } });
    return z.NEVER;
  });

const stateFilter = z
  .string()
  .optional()
  .refine((v) => !v || ['ungraded', 'in_progress', 'graded', 'any'].includes(v), { error: 'choose ungraded, in_progress, graded or any.', params: { status: 400 } });

export const queueQuery = z.object({ grader: graderFilter, state: stateFilter });
export const nextQuery = z.object({ grader: graderFilter, state: stateFilter, after: optionalId });
export const prevQuery = z.object({ grader: graderFilter, state: stateFilter, before: id });

/** The assignment of graders (fields may repeat: lists). */
export const assignForm = z.object({
  mode: z
    .array(z.string())
    .optional()
    .transform((v) => v?.at(-1) ?? 'selected')
    .pipe(choice(['selected', 'spread'], 'choose selected or spread.')),
  grader: z
    .array(z.string())
    .optional()
    .transform((v) => v?.at(-1) ?? ''),
  graders: z.array(z.string()).optional().transform((v) => v ?? []),
  students: z.array(z.string()).optional().transform((v) => v ?? []),
});

/** Ids from a repeated field, 400 "<field>: give a number." when one is not. */
export function idList(values: string[], field: string): number[] {
  return values.map((v) => idParam(v, field));
}

// ---- regrade requests ----

export const regradeRequestForm = z.object({
  subject: z
    .string()
    .optional()
    .transform((v, c) => {
      const m = /^(item|comment):(\d{1,12})$/.exec(v ?? '');
      if (!m) {
        c.addIssue({ code: 'custom', message: 'choose the rubric item or comment you are asking about.', params: { status: 400 } });
        return z.NEVER;
      }
      return { kind: m[1] as 'item' | 'comment', id: Number(m[2]) };
    }),
  message: text(MAX_MESSAGE),
});

export const regradeMessageForm = z.object({ body: text(MAX_MESSAGE) });

export const regradeCloseForm = z
  .object({
    outcome: choice(['adjusted', 'declined', 'answered'], 'choose adjusted, declined or answered.'),
    body: text(MAX_MESSAGE, false),
  })
  .superRefine((f, c) => {
    if (f.outcome === 'declined' && !f.body) c.addIssue({ code: 'custom', path: ['body'], message: 'write something.', params: { status: 400 } });
  });

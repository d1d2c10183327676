import { z } from 'zod';
import { SIGNUP_TTL_DAYS } from './signup.js';

/**
 * The forms of the accounts plugin, one schema each, declared on their route lines (routes.ts).
 * Forms that are shown again with their problem (sign-in, passwords) take every field as text and
 * leave the checks to the handler, which answers on the form itself.
 */

/** A field a form may leave out: the handler answers a missing one on the form itself. */
const field = z.string().default('');

export const loginForm = z.object({ email: field, password: field, next: z.string().optional() });
export const mailChoiceForm = z.object({ results: z.enum(['on', 'off'], { error: 'choose on or off.' }) });
export const passwordChangeForm = z.object({ current: field, password: field, confirm: field });
/** A new password and its confirmation: sign-up links and password reset links. */
export const newPasswordForm = z.object({ password: field, confirm: field });
export const forgotForm = z.object({ email: field });

/** How long sign-up links are valid: 1 to 90 days, the default when left empty (400 otherwise, as a malformed choice). */
const linkDays = z
  .string()
  .optional()
  .transform((value) => (value ? Number(value) : SIGNUP_TTL_DAYS))
  .refine((days) => Number.isInteger(days) && days >= 1 && days <= 90, { message: 'the links must be valid for 1 to 90 days.', params: { status: 400 } });
/** A roster member by user id; one that is not on the roster is the handler's 404. */
const rosterMember = field;

export const linksForm = z.object({ days: linkDays });
export const sendLinkForm = z.object({ days: linkDays, user: rosterMember });
export const removeForm = z.object({ user: rosterMember });

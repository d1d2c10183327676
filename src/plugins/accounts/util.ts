import { wantsJson } from '../../core/http.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext } from '../../plugin.js';

/** Only same-site paths: "/x" yes; "//evil", "/\\evil", "https://evil" no (an open redirect). */
export function safeNext(next: unknown, fallback = '/'): string {
  if (typeof next !== 'string' || next.length > 2000) return fallback;
  if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  for (const ch of next) if (ch === '\\' || ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) return fallback;
  return next;
}

/**
 * A user-caused failure on a form page: browsers get the form again (with the message and what
 * they typed), API clients the JSON error.
 */
export function formError(ctx: AppContext, status: number, message: string, template: string, vars: Record<string, unknown> = {}): void {
  if (wantsJson(ctx)) throw new UserError(status, message);
  ctx.render(template, { ...vars, error: message });
  ctx.status = status;
}

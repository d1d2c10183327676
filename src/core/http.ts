import type { AppContext } from '../plugin.js';

/** Whether the client wants JSON (an API path, or an Accept header that prefers it to HTML). */
export function wantsJson(ctx: AppContext): boolean {
  if (ctx.path.startsWith('/api/')) return true;
  return ctx.accepts('html', 'json') === 'json';
}

/**
 * A Content-Disposition value for a download: the name in UTF-8 (RFC 6266's filename*), and a
 * plain-ASCII fallback for old clients with anything that could end the quoted string or be read
 * as an escape replaced.
 */
export function attachment(name: string, kind: 'attachment' | 'inline' = 'attachment'): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * Where a form goes back to: the address in its `back` field when it is a page of this site under
 * /courses/, otherwise `fallback`. Never another host (an open redirect), never a header break.
 */
export function backTo(value: string | undefined, fallback: string): string {
  const to = value ?? '';
  return to.startsWith('/courses/') && !to.startsWith('//') && !/[\r\n\\]/.test(to) ? to : fallback;
}

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../../db/open.js';
import { UserError } from '../../lib/errors.js';
import { readFormAll } from '../../lib/body.js';
import type { AppContext, AppMiddleware, Deps } from '../../plugin.js';
import { clearCookie, currentSession, setCookie } from './session.js';
import { isToken } from './sessions.js';

/**
 * CSRF protection for every POST, PUT, PATCH and DELETE.
 *
 * - Signed-in users: the token is an HMAC of a per-session secret kept in the sessions row, so it
 *   changes at sign-in and dies with the session.
 * - Anonymous visitors (sign-in, sign-up forms): a signed double-submit. An HttpOnly cookie holds
 *   a random value and the token is an HMAC of it under a key only the server knows.
 *
 * The token travels as the form field `_csrf`, the `X-CSRF-Token` header (fetch/XHR), or, for
 * multipart forms, whose body is streamed by the handler, as `?_csrf=` in the form's action URL.
 * SameSite=Lax cookies already stop most cross-site posts; the token also covers old browsers
 * and same-site attackers (other apps on a sibling subdomain).
 *
 * Routes that authenticate differently (the loopback /restart hook) are answered by a plugin
 * listed before accounts (src/plugins/index.ts), so they never reach this check.
 */
export const CSRF_COOKIE = 'lectern_csrf';
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_MESSAGE = 'The form has expired or came from another site. Reload the page and try again.';
/** Urlencoded/JSON bodies are parsed here (and cached for the handler) up to this size. */
export const CSRF_BODY_LIMIT = 1024 * 1024;

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const CSRF_KEY_SETTING = 'accounts.csrf_key';

/** The server's HMAC key, created once per data directory and kept in settings; read once per app. */
function readCsrfKey(db: Db): Buffer {
  db.prepare('INSERT OR IGNORE INTO settings (key, value) VALUES (:key, :value)').run({ key: CSRF_KEY_SETTING, value: randomBytes(32).toString('base64') });
  const row = db.prepare<{ key: string }, { value: string }>('SELECT value FROM settings WHERE key = :key').get({ key: CSRF_KEY_SETTING });
  return Buffer.from(row!.value, 'base64');
}

function sign(key: Buffer, kind: 's' | 'a', value: string): string {
  return createHmac('sha256', key).update(`${kind}:${value}`).digest('base64url');
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function presentedToken(ctx: AppContext): Promise<string> {
  const header = ctx.get(CSRF_HEADER);
  if (header) return header;
  if (ctx.request.is('application/x-www-form-urlencoded', 'application/json')) {
    const form = await readFormAll(ctx, CSRF_BODY_LIMIT);
    return form[CSRF_FIELD]?.at(-1) ?? '';
  }
  if (ctx.request.is('multipart/form-data')) {
    const q = ctx.query[CSRF_FIELD];
    return typeof q === 'string' ? q : '';
  }
  return '';
}

/** Signed-in pages all show a form (sign out at least): a session's token is kept, not signed again per request. */
const SESSION_TOKENS_KEPT = 10_000;

export function csrfMiddleware(deps: Deps): AppMiddleware {
  const key = readCsrfKey(deps.db);
  const sessionTokens = new Map<string, string>();
  const sessionToken = (secret: string): string => {
    let token = sessionTokens.get(secret);
    if (token === undefined) {
      token = sign(key, 's', secret);
      if (sessionTokens.size >= SESSION_TOKENS_KEPT) sessionTokens.clear();
      sessionTokens.set(secret, token);
    }
    return token;
  };
  return async (ctx, next) => {
    const session = currentSession(ctx);
    let expected: string | null = null;
    if (session) {
      expected = sessionToken(session.csrfSecret);
      if (ctx.cookies.get(CSRF_COOKIE)) clearCookie(ctx, deps.config, CSRF_COOKIE);
    } else {
      const anon = ctx.cookies.get(CSRF_COOKIE);
      if (isToken(anon)) {
        expected = sign(key, 'a', anon);
      } else if (!UNSAFE.has(ctx.method)) {
        // A fresh value for a page that may show a form; a POST without it fails below anyway.
        const fresh = randomBytes(32).toString('base64url');
        setCookie(ctx, deps.config, CSRF_COOKIE, fresh);
        expected = sign(key, 'a', fresh);
      }
    }
    ctx.state.csrfToken = expected ?? '';
    if (UNSAFE.has(ctx.method)) {
      const given = await presentedToken(ctx);
      if (!expected || !given || !sameToken(given, expected)) {
        ctx.state.log.info({ path: ctx.path, hadToken: given !== '', signedIn: !!session }, 'csrf check failed');
        throw new UserError(403, CSRF_MESSAGE);
      }
    }
    await next();
  };
}

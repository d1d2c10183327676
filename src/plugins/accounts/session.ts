import type { Config } from '../../config.js';
import { readCache, setRequestVersion } from '../../db/read-cache.js';
import type { CurrentUser, Role } from '../../lib/auth.js';
import type { AppContext, AppMiddleware, Deps } from '../../plugin.js';
import { bindLog } from '../../middleware/request-log.js';
import { isDatabaseBusy, isStorageFull } from '../../lib/unavailable.js';
import { createSession, destroySession, findSession, SESSION_TTL_MS, touchSession, type SessionRecord } from './sessions.js';
import { staffListing } from './authority.js';
import { enrolmentsOf, toCurrentUser } from './users.js';

/**
 * Sessions: a random id in an HttpOnly, SameSite=Lax cookie (Secure over https), looked up
 * server-side by its hash on every request. Fills ctx.state.user and ctx.state.roleIn.
 */
export const SESSION_COOKIE = 'lectern_session';

/** https when the public URL says so (a TLS proxy in front) or the request itself came over TLS. */
export function isSecureRequest(ctx: AppContext, config: Config): boolean {
  return config.publicUrl.startsWith('https:') || ctx.secure;
}

export interface CookieOptions {
  /** Seconds; omitted = until the browser closes; 0 = delete. */
  maxAge?: number;
  path?: string;
}

/**
 * Written by hand rather than through ctx.cookies, which refuses a Secure cookie on a request
 * that reached us over plain http (the normal case behind a TLS-terminating proxy).
 */
export function setCookie(ctx: AppContext, config: Config, name: string, value: string, options: CookieOptions = {}): void {
  const parts = [`${name}=${value}`, `Path=${options.path ?? '/'}`, 'HttpOnly', 'SameSite=Lax'];
  if (options.maxAge !== undefined) parts.push(`Max-Age=${Math.max(0, Math.floor(options.maxAge))}`);
  if (isSecureRequest(ctx, config)) parts.push('Secure');
  ctx.append('Set-Cookie', parts.join('; '));
}

export function clearCookie(ctx: AppContext, config: Config, name: string, path = '/'): void {
  setCookie(ctx, config, name, '', { maxAge: 0, path });
}

/** The session behind this request (internal to accounts and CSRF), or null. */
export function currentSession(ctx: AppContext): SessionRecord | null {
  return (ctx.state.session as SessionRecord | undefined) ?? null;
}

/**
 * Roles: a site admin is lecturer everywhere; staff listed in course.yaml take precedence over
 * enrolment rows; everyone else has the role of their enrolment, if any.
 */
export function roleResolver(deps: Pick<Deps, 'db' | 'content'>, user: CurrentUser | null, version?: string): (course: string) => Role | null {
  if (!user) return () => null;
  let enrolled: Map<string, Role> | undefined;
  return (course: string) => {
    if (user.isAdmin) return 'lecturer';
    const staff = staffListing(deps.content, course, user);
    if (staff) return staff;
    enrolled ??= new Map(readCache(deps.db).get(`enrolments:${user.id}`, version, () => enrolmentsOf(deps.db, user.id)).map((e) => [e.course, e.role]));
    return enrolled.get(course) ?? null;
  };
}

function setUser(ctx: AppContext, deps: Deps, user: CurrentUser | null, record: SessionRecord | null, version?: string): void {
  ctx.state.user = user;
  ctx.state.session = record;
  ctx.state.roleIn = roleResolver(deps, user, version);
  if (user) bindLog(ctx, { user: user.id });
}

/**
 * The session is looked up by the sha256 of the cookie (the primary key), joined to its user by
 * primary key, and kept in the read cache until the database changes (src/db/read-cache.ts):
 * signed-in readers reload pages far more often than anything is written.
 */
export function sessionMiddleware(deps: Deps): AppMiddleware {
  const cache = readCache(deps.db);
  return async (ctx, next) => {
    const raw = ctx.cookies.get(SESSION_COOKIE);
    let found = null;
    let version: string | undefined;
    if (raw) {
      const now = deps.clock.now();
      version = cache.check();
      setRequestVersion(ctx.state, version);
      found = cache.get(`session:${raw}`, version, () => findSession(deps.db, raw, now));
      // A kept session may have expired since it was read.
      if (found && found.record.expiresAt <= now) found = null;
      if (!found) clearCookie(ctx, deps.config, SESSION_COOKIE);
      else if (touchQuietly(ctx, deps, found.record, now)) setCookie(ctx, deps.config, SESSION_COOKIE, raw, { maxAge: SESSION_TTL_MS / 1000 });
    }
    setUser(ctx, deps, found ? toCurrentUser(found.user) : null, found?.record ?? null, version);
    await next();
  };
}

/**
 * The sliding expiry is the only write on a reader's path, and it can wait: when the database is
 * locked by another process or the disk is full, the page is served and a later request slides it.
 */
function touchQuietly(ctx: AppContext, deps: Deps, record: SessionRecord, now: number): boolean {
  try {
    return touchSession(deps.db, record, now);
  } catch (err) {
    if (!isDatabaseBusy(err) && !isStorageFull(err)) throw err;
    ctx.state.log.debug({ err }, 'session expiry not slid this time');
    return false;
  }
}

/**
 * Signs the user in on this response. Any session the browser already had is destroyed and a new
 * id issued, so an id planted before sign-in (session fixation) is worthless afterwards.
 */
export function startSession(ctx: AppContext, deps: Deps, user: CurrentUser): SessionRecord {
  const old = currentSession(ctx);
  if (old) destroySession(deps.db, old.idHash);
  const { id, record } = createSession(deps.db, user.id, deps.clock.now());
  setCookie(ctx, deps.config, SESSION_COOKIE, id, { maxAge: SESSION_TTL_MS / 1000 });
  setUser(ctx, deps, user, record);
  return record;
}

/** Signs out: the server-side row goes, the cookie is cleared. */
export function endSession(ctx: AppContext, deps: Deps): void {
  const record = currentSession(ctx);
  if (record) destroySession(deps.db, record.idHash);
  clearCookie(ctx, deps.config, SESSION_COOKIE);
  setUser(ctx, deps, null, null);
}

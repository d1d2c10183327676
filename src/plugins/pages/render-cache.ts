import type { ReadCache } from '../../db/read-cache.js';
import type { AppState } from '../../plugin.js';
import type { CourseLibrary } from './library.js';

/**
 * Course pages as rendered for a student (or a visitor), kept while nothing they were made of
 * changed.
 *
 * A page is a function of: the reader (user, session's CSRF token), the database (their name,
 * enrolments, variants, the page's comments), the course's pages (this page's version, the
 * others' titles and release dates for the navigation), and the clock (release dates; a comment's
 * edit window counted in minutes). So an entry is used only
 * - by the same path, user and CSRF token (the key);
 * - while the database is at the version the rendering request started at (the read cache's
 *   version: any commit by any process ends it);
 * - while the course library and the page's version are the very objects it was made from
 *   (a deploy, or in development a changed file, makes new ones);
 * - until the next moment the clock would change it: the next release date in the course, or the
 *   next minute of a comment's edit window.
 * Staff views (notes, "view as"), drafts, pages with a problem and anything carrying a message
 * for one request are never kept. What the reader gets from the cache is byte for byte what
 * rendering it again would give.
 *
 * This spares the work of rendering (templates, navigation, comments; three quarters of a page's
 * CPU) when the same reader asks again for an unchanged page: a reload, going back, a page left
 * open with a refresh. A student's first view of a page is rendered as before.
 */

/**
 * What ctx.state (which templates see) may hold for a page to depend only on the key's parts:
 * the user and their roles (database), the CSRF token (key), the session record (the key's user
 * and token; no template reads it) and the request id (no page template shows it). Anything
 * else, added by some plugin for some request, and the page is not kept.
 */
const STATE_KEYS = new Set(['user', 'roleIn', 'csrfToken', 'session', 'requestId']);

interface Entry {
  version: string;
  lib: CourseLibrary;
  page: object | null;
  validUntil: number;
  /** Encoded once: a string body is encoded to UTF-8 again on every write (and measured for Content-Length). */
  html: Buffer;
}

export interface RenderCounters {
  renders: number;
  hits: number;
}

export class PageRenderCache {
  readonly #reads: ReadCache;
  readonly #maxBytes: number;
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  #version: string | undefined;
  readonly #releases = new WeakMap<CourseLibrary, number[]>();

  constructor(reads: ReadCache, maxBytes: number) {
    this.#reads = reads;
    this.#maxBytes = maxBytes;
  }

  /**
   * The cache key for this request, or null when its page may not be kept. A visitor who is not
   * signed in shares the key with every other such visitor: their page is kept only if it does
   * not contain their CSRF token (put() checks), so it does not depend on it.
   */
  keyFor(path: string, state: AppState, version: string | undefined): string | null {
    if (!this.enabled || version === undefined || typeof state.csrfToken !== 'string') return null;
    for (const k of Object.keys(state)) if (!STATE_KEYS.has(k)) return null;
    return state.user ? `${state.user.id}\n${state.csrfToken}\n${path}` : `-\n${path}`;
  }

  get(key: string, version: string, lib: CourseLibrary, page: object | null, now: number): Buffer | undefined {
    if (!this.#current(version)) return undefined;
    const e = this.#entries.get(key);
    if (!e || e.version !== version || e.lib !== lib || e.page !== page || now >= e.validUntil) return undefined;
    return e.html;
  }

  /** Keeps a page; returns its bytes as kept (undefined when it was not kept). */
  put(key: string, version: string, lib: CourseLibrary, page: object | null, validUntil: number, html: string, csrfToken: string): Buffer | undefined {
    if (!this.#current(version) || html.length * 3 > this.#maxBytes / 16) return undefined;
    if (key.startsWith('-\n') && csrfToken !== '' && html.includes(csrfToken)) return undefined;
    this.#delete(key);
    const bytes = Buffer.from(html);
    this.#entries.set(key, { version, lib, page, validUntil, html: bytes });
    this.#bytes += bytes.length;
    // Oldest first, until back under the bound.
    for (const k of this.#entries.keys()) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#delete(k);
    }
    return this.#entries.get(key)?.html;
  }

  /** The time until which a kept page stays as it is (for the replay of its response). */
  validUntil(key: string): number {
    return this.#entries.get(key)?.validUntil ?? 0;
  }

  /** The first release date after `now` among the course's pages (Infinity when none). */
  nextRelease(lib: CourseLibrary, now: number): number {
    let times = this.#releases.get(lib);
    if (!times) {
      times = lib.ordered.map((e) => e.version.meta.release).filter((t): t is number => typeof t === 'number').sort((a, b) => a - b);
      this.#releases.set(lib, times);
    }
    for (const t of times) if (t > now) return t;
    return Infinity;
  }

  /** False with LECTERN_PAGE_CACHE_MB=0. */
  get enabled(): boolean {
    return this.#maxBytes > 0;
  }

  #current(version: string): boolean {
    if (!this.#reads.isCurrent(version)) return false;
    if (version !== this.#version) {
      // The database moved on: nothing kept can be used again.
      this.#entries.clear();
      this.#bytes = 0;
      this.#version = version;
    }
    return true;
  }

  #delete(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#bytes -= e.html.length;
    this.#entries.delete(key);
  }
}

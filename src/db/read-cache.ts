import type { Db } from './open.js';

/**
 * Values read from the database, kept while the database does not change.
 *
 * A signed-in page reads the same rows on every view (the session and its user, the user's
 * enrolments, their assignment variants), and each statement costs more in a busy server than
 * the page's own logic around it. So a request that starts asks, with one cheap statement,
 * whether anything at all was committed since the last request asked: PRAGMA data_version
 * changes when another connection (another process: a cluster worker, the CLI) commits, and
 * total_changes() when this connection writes. When either moved, everything cached is
 * forgotten. A value is then kept under the version seen at the start of the request that read
 * it, and served only to requests that started at that same version: what they get is what a
 * read at their start would have returned.
 *
 * Use it only for reads a request makes before it writes anything itself: its own write does
 * not move the version it started with.
 */
export class ReadCache {
  readonly #dataVersion: { get(): unknown };
  readonly #totalChanges: { get(): unknown };
  #current = '';
  #c: unknown = -1;
  #v: unknown = -1;
  readonly #entries = new Map<string, unknown>();

  constructor(db: Db) {
    // Two plucked statements cost less than one over the pragma_data_version table function.
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck();
    this.#totalChanges = db.prepare('SELECT total_changes()').pluck();
  }

  /** Called when a request starts: the database's version now, after forgetting everything if it changed. */
  check(): string {
    const c = this.#totalChanges.get();
    const v = this.#dataVersion.get();
    if (c !== this.#c || v !== this.#v) {
      this.#entries.clear();
      this.#c = c;
      this.#v = v;
      this.#current = `${String(c)}:${String(v)}`;
    }
    return this.#current;
  }

  /** Whether `version` is the database's version as last checked (nothing committed since). */
  isCurrent(version: string | undefined): boolean {
    return version !== undefined && version === this.#current;
  }

  /** The value kept for `key` at `version`, if any. */
  peek<T>(key: string, version: string | undefined): T | undefined {
    if (version === undefined || version !== this.#current) return undefined;
    return this.#entries.get(key) as T | undefined;
  }

  /** Keeps a value read by a request that started at `version` (ignored once the database changed). */
  put(key: string, version: string | undefined, value: unknown): void {
    if (version === undefined || version !== this.#current) return;
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    this.#entries.set(key, value);
  }

  /** peek(), else load() and put(). */
  get<T>(key: string, version: string | undefined, load: () => T): T {
    if (version !== undefined && version === this.#current && this.#entries.has(key)) return this.#entries.get(key) as T;
    const value = load();
    this.put(key, version, value);
    return value;
  }
}

/** Entries are few per active user; a busy day's worth fits, and the map never grows without bound. */
const MAX_ENTRIES = 50_000;

/**
 * Kept beside the connection, not in an app's instance, on purpose: the cache is a memo of that
 * connection's reads and is valid only at that connection's own version (data_version and
 * total_changes() are per connection), so the handle is exactly its key. It holds no setting,
 * timer or lifecycle of an app, and goes when the handle does. Every app opens its own handle, so
 * two apps in one process (the tests) never share one.
 */
const caches = new WeakMap<Db, ReadCache>();

/** The one cache of this database connection. */
export function readCache(db: Db): ReadCache {
  let cache = caches.get(db);
  if (!cache) {
    cache = new ReadCache(db);
    caches.set(db, cache);
  }
  return cache;
}

/** Per request (keyed by its ctx.state), gone with it. */
const versions = new WeakMap<object, string>();

/** Remembers the version a request started at (keyed by its ctx.state). */
export function setRequestVersion(state: object, version: string): void {
  versions.set(state, version);
}

/** The version the request started at, or undefined when it did not ask (no session: nothing cached). */
export function requestVersion(state: object): string | undefined {
  return versions.get(state);
}

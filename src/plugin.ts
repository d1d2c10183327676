import type { Config } from './config.js';
import type { Db } from './db/open.js';
import type { BlobStore } from './lib/blobs.js';
import type { Clock } from './lib/clock.js';
import type { Content } from './lib/content.js';
import type { Logger } from './lib/logger.js';
import type { Sandbox } from './lib/sandbox/types.js';
import type { Views } from './lib/views.js';
import type { Lifecycle } from './lib/lifecycle.js';
import type { AppMiddleware, RequestObserver } from './lib/context.js';
import type { ParamLoader, PluginRouter } from './core/routes.js';

/** Everything a plugin may use, passed in so that a test can build the whole app on a temp dir. */
export interface Deps {
  db: Db;
  config: Config;
  log: Logger;
  clock: Clock;
  views: Views;
  blobs: BlobStore;
  sandbox: Sandbox;
  content: Content;
  /** Tells long-lived responses and loops that the process is draining. */
  lifecycle: Lifecycle;
  /** Starts the one shutdown path (drain, stop plugins, close db); idempotent. */
  shutdown(reason: string): void;
  /**
   * What plugins offer each other, filled from every plugin's `provides` when the app is
   * assembled (src/core/assemble.ts), before any request or background work runs.
   */
  services: Services;
}

/**
 * The services plugins offer one another, by name. Each plugin adds the ones it provides here by
 * declaration merging (`declare module '../../plugin.js' { interface Services { grading: Grading } }`
 * in its index.ts), so a consumer names a service without importing its provider's module.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface Services {}
export type ServiceName = keyof Services;

// The request types live in the bottom layer (src/lib/context.ts), where the lib helpers use them too.
export type { AppContext, AppContextExtras, AppMiddleware, AppRouter, AppState, RequestObserver } from './lib/context.js';

/** A CLI sub-command contributed by a plugin: `lectern <name> ...args`. */
export interface Command {
  summary: string;
  /** Whether it needs the full app deps (db migrated, content loaded). */
  run(args: string[], deps: Deps): Promise<number>;
}

/**
 * A plugin: a module-level definition that holds no state. The app calls `create` once, with its
 * own deps, and everything the plugin keeps (caches, timers, stores) lives in what that returns.
 */
export interface Plugin {
  /** Folder name = views/<name> = log tag. */
  name: string;
  /** Services of other plugins it uses; start-up stops with a message when one has no provider. */
  needs?: readonly ServiceName[];
  /** CLI sub-commands: `lectern <name> ...args` (run with the assembled app's deps). */
  commands?: Record<string, Command>;
  create(deps: Deps): PluginInstance;
}

/** One app's instance of a plugin. */
export interface PluginInstance {
  /** Services this plugin offers; a name provided twice stops start-up. */
  provides?: Partial<Services>;
  /** Middleware run before any route, in plugin order (sessions, CSRF). */
  middleware?: AppMiddleware[];
  /** Loaders for route parameters this plugin owns (`id` → the submission), shared by every route with that parameter. */
  params?: Record<string, ParamLoader>;
  /**
   * Paths this plugin's middleware answers before routing (the deploy hook's /restart), so that
   * `lectern routes` lists them with the rest.
   */
  answers?: Array<{ method: string; path: string; access: string }>;
  /** Its routes, declared with their access, input and audit (src/core/routes.ts). */
  routes?(r: PluginRouter): void;
  /** Background work; returns its own stop, called in reverse plugin order at shutdown. */
  start?(): Promise<() => Promise<void>>;
  /**
   * Whether start() runs in every web worker of a cluster too (src/cluster.ts), after the
   * primary's: only for a start() that fills per-process state and is safe to repeat beside a
   * running server. Without it, start() runs once, in the primary.
   */
  startsInEveryWorker?: boolean;
  /** Told of every finished request (metrics). */
  observeRequests?: RequestObserver;
}

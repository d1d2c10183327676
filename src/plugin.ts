import type { RouterInstance } from '@koa/router';
import type Koa from 'koa';
import type { Config } from './config.js';
import type { Db } from './db/open.js';
import type { BlobStore } from './lib/blobs.js';
import type { Clock } from './lib/clock.js';
import type { Content } from './lib/content.js';
import type { Logger } from './lib/logger.js';
import type { Sandbox } from './lib/sandbox/types.js';
import type { Views } from './lib/views.js';
import type { Lifecycle } from './lib/lifecycle.js';
import type { CurrentUser, Role } from './lib/auth.js';

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
}

/** What middleware and handlers find on ctx.state. */
export interface AppState {
  requestId: string;
  log: Logger;
  user?: CurrentUser | null;
  roleIn?: (course: string) => Role | null;
  csrfToken?: string;
  /** Extra values every template sees (plugins may add). */
  [key: string]: unknown;
}

export interface AppContextExtras {
  /** Renders a template with ctx.state merged in, as the HTML response. */
  render(template: string, vars?: Record<string, unknown>): void;
}

/** The context every handler gets; route handlers also have ctx.params. */
export type AppContext = Koa.ParameterizedContext<AppState, AppContextExtras>;
export type AppRouter = RouterInstance<AppState, AppContextExtras>;
export type AppMiddleware = Koa.Middleware<AppState, AppContextExtras>;

/** A CLI sub-command contributed by a plugin: `lectern <name> ...args`. */
export interface Command {
  summary: string;
  /** Whether it needs the full app deps (db migrated, content loaded). */
  run(args: string[], deps: Deps): Promise<number>;
}

/**
 * Told of every finished request by the core request log, with the route pattern that matched
 * ("/courses/:course/submissions/:id", "/static/*", "(unmatched)"), never the raw URL. Runs on
 * every request: keep it cheap.
 */
export type RequestObserver = (method: string, route: string, status: number, seconds: number) => void;

export interface Plugin {
  /** Folder name = views/<name> = log tag. */
  name: string;
  /** Middleware run before any route, in plugin order (sessions, CSRF). */
  middleware?(deps: Deps): AppMiddleware[];
  routes?(router: AppRouter, deps: Deps): void;
  /** Background work; returns its own stop, called in reverse plugin order at shutdown. */
  start?(deps: Deps): Promise<() => Promise<void>>;
  commands?: Record<string, Command>;
  /** Called once per app: a function told of every finished request (metrics). */
  observeRequests?(deps: Deps): RequestObserver;
}

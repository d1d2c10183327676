import type { RouterInstance } from '@koa/router';
import type Koa from 'koa';
import type { CurrentUser, Role } from './auth.js';
import type { Course } from './content.js';
import type { Logger } from './logger.js';

/**
 * The request types every layer shares: the lib helpers (auth, body, replay) take a context, the
 * core and plugins declare routes with it. They live here, in the bottom layer, so those helpers
 * need not import the plugin contract above them; src/plugin.ts re-exports them, and plugins keep
 * importing them from there.
 */

/** What middleware and handlers find on ctx.state. */
export interface AppState {
  requestId: string;
  log: Logger;
  user?: CurrentUser | null;
  roleIn?: (course: string) => Role | null;
  /** The route's course, loaded by the `:course` parameter (404 when there is none). */
  course?: Course;
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

/**
 * Told of every finished request by the core request log, with the route pattern that matched
 * ("/courses/:course/submissions/:id", "/static/*", "(unmatched)"), never the raw URL. Runs on
 * every request: keep it cheap.
 */
export type RequestObserver = (method: string, route: string, status: number, seconds: number) => void;

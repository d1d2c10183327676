import type { RouterMiddleware, RouterParameterMiddleware } from '@koa/router';
import type { z } from 'zod';
import { requireRole, requireStaff, requireLecturer, requireUser } from '../lib/auth.js';
import { readForm, readFormAll } from '../lib/body.js';
import { UserError } from '../lib/errors.js';
import type { AppContext, AppContextExtras, AppRouter, AppState } from '../plugin.js';

/**
 * The route line: every route a plugin serves is declared in its routes.ts as
 *
 *   r.post('/courses/:course/roster/import', lecturer('import the roster'), input(rosterForm), audit('roster.import'), handler)
 *
 * so that who may call it, what it accepts and how it is audited are read where the URL is, and
 * printed by `lectern routes`. The access rule is the one argument no route may leave out.
 */

/** A handler or middleware of a route: the app's context with the route's parameters. */
export type RouteMiddleware = RouterMiddleware<AppState, AppContextExtras>;
export type RouteContext = Parameters<RouteMiddleware>[0];

/** A middleware that says who may pass, with the words `lectern routes` prints for it. */
export type Access = RouteMiddleware & { readonly access: string };
/** A middleware that reads and checks the request's body (or query) against a schema. */
export type Input = RouteMiddleware & { readonly input: string };
/** A middleware that names the action for the audit log. */
export type Audit = RouteMiddleware & { readonly audit: string };

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteInfo {
  plugin: string;
  method: string;
  path: string;
  access: string;
  input: string | null;
  audit: string | null;
  /** The file that answers it, when not the plugin's routes.ts (a middleware answering before routing). */
  source?: string;
}

/** A loader for a route parameter (`:course`, `:id`): fills ctx.state, or answers 404 for outsiders. */
export type ParamLoader = RouterParameterMiddleware<AppState, AppContextExtras>;

function tagged<T extends RouteMiddleware, K extends string>(mw: RouteMiddleware, key: K, value: string): T {
  Object.defineProperty(mw, key, { value, enumerable: true });
  return mw as T;
}

/** An access rule: `check` throws the answer (302 to sign in, 404 for outsiders, 403 with a reason). */
export function accessRule(access: string, check: (ctx: RouteContext) => void): Access {
  return tagged<Access, 'access'>(
    (ctx, next) => {
      check(ctx);
      return next();
    },
    'access',
    access,
  );
}

/** Open to everyone, signed in or not. */
export const anyone: Access = accessRule('anyone', () => undefined);
/** Any signed-in user; others go to the sign-in page (browsers) or get 401. */
export const signedIn: Access = accessRule('signed in', (ctx) => {
  requireUser(ctx);
});
/** Anyone with a role in the route's course; 404 for everyone else. */
export const member: Access = accessRule('course member', (ctx) => {
  requireRole(ctx, courseParam(ctx), ['student', 'tutor', 'lecturer']);
});
/** The route's course's tutors and lecturers; 404 for everyone else. */
export const staff: Access = accessRule('course staff', (ctx) => {
  requireStaff(ctx, courseParam(ctx));
});
/** The route's course's lecturers; a tutor is told (403) that only lecturers may do `what`. */
export function lecturer(what: string): Access {
  return accessRule(`lecturer (${what})`, (ctx) => {
    requireLecturer(ctx, courseParam(ctx), what);
  });
}
/** Site administrators; 404 for everyone else, as for any page they do not know of. */
export const admin: Access = accessRule('administrator', (ctx) => {
  const user = requireUser(ctx);
  if (!user.isAdmin) throw new UserError(404, 'Not found.');
});

function courseParam(ctx: RouteContext): string {
  const slug = ctx.params.course;
  if (!slug) throw new Error(`an access rule needs :course, and ${ctx.path} has none`);
  return slug;
}

/** The name the field has in a message: "points", "items.2.label". */
function fieldOf(issue: z.core.$ZodIssue): string {
  return issue.path.length ? issue.path.map(String).join('.') : 'form';
}

/**
 * A form or value that does not match its schema: 400 when it is malformed (not a number, not one
 * of the choices, a list where one value belongs), 422 when it is well-formed but not acceptable
 * (too long, out of range, a rule of the schema). A refinement may say its status in params.status.
 * The message names the field; `details.problems` lists every problem for API clients.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const first = issues[0]!;
  const declared = (first as { params?: { status?: unknown } }).params?.status;
  const malformed = first.code === 'invalid_type' || first.code === 'invalid_format' || first.code === 'invalid_value' || first.code === 'invalid_union';
  const status = typeof declared === 'number' ? declared : malformed ? 400 : 422;
  const problems = issues.map((i) => ({ field: fieldOf(i), message: i.message }));
  throw new UserError(status, `${fieldOf(first)}: ${first.message}`, { problems });
}

export interface InputOptions {
  /** Where the values come from: the form or JSON body (default), or the query string. */
  from?: 'body' | 'query';
  /** Repeated fields as lists (`a=1&a=2` → ["1", "2"]); by default the last value of each. */
  lists?: boolean;
  /** Largest body read, in bytes (default 64 KiB). */
  limit?: number;
}

/**
 * Reads the form (urlencoded or flat JSON, src/lib/body.ts) or query and checks it against
 * `schema`; the handler finds the result with `inputOf(ctx, schema)`.
 */
export function input<S extends z.ZodType>(schema: S, options: InputOptions = {}): Input {
  const label = `${options.from === 'query' ? 'query' : 'form'}${options.lists ? ' (lists)' : ''}: ${describeSchema(schema)}`;
  return tagged<Input, 'input'>(
    async (ctx, next) => {
      let raw: unknown;
      if (options.from === 'query') raw = options.lists ? ctx.query : Object.fromEntries(Object.entries(ctx.query).map(([k, v]) => [k, Array.isArray(v) ? v.at(-1) : v]));
      else raw = options.lists ? await readFormAll(ctx, options.limit) : await readForm(ctx, options.limit);
      ctx.state.input = validate(schema, raw);
      return next();
    },
    'input',
    label,
  );
}

/** The input the route's `input(schema)` checked, typed by that schema. */
export function inputOf<S extends z.ZodType>(ctx: AppContext, _schema: S): z.output<S> {
  if (!('input' in ctx.state)) throw new Error('inputOf: the route declares no input(schema)');
  return ctx.state.input as z.output<S>;
}

function describeSchema(schema: z.ZodType): string {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape).join(', ') || '(nothing)' : 'checked';
}

/**
 * Names the action for the audit log: a successful request (status below 400) of a signed-in
 * member of the course's staff is recorded under this name by the audit plugin's middleware. A
 * handler that writes its own, richer entry marks the request (ctx.state.audited) instead.
 */
export function audit(action: string): Audit {
  return tagged<Audit, 'audit'>(
    (ctx, next) => {
      ctx.state.auditAction = action;
      return next();
    },
    'audit',
    action,
  );
}

/** What a plugin's routes.ts is given: the app's router, with the access rule required on every line. */
export interface PluginRouter {
  get(path: string, access: Access, ...rest: RouteMiddleware[]): void;
  post(path: string, access: Access, ...rest: RouteMiddleware[]): void;
  put(path: string, access: Access, ...rest: RouteMiddleware[]): void;
  patch(path: string, access: Access, ...rest: RouteMiddleware[]): void;
  delete(path: string, access: Access, ...rest: RouteMiddleware[]): void;
  /** A route whose path is a pattern (a catch-all for course pages); `label` is what `lectern routes` prints. */
  pattern(method: 'get', label: string, path: RegExp, access: Access, ...rest: RouteMiddleware[]): void;
}

export function pluginRouter(router: AppRouter, plugin: string, table: RouteInfo[]): PluginRouter {
  const add = (method: Method, path: string | RegExp, label: string, access: Access, rest: RouteMiddleware[]) => {
    if (typeof access !== 'function' || typeof (access as Partial<Access>).access !== 'string') {
      throw new Error(`${plugin}: ${method.toUpperCase()} ${label} declares no access rule (anyone, signedIn, member, staff, lecturer(...), admin or the plugin's own)`);
    }
    const inputs = rest.filter((m): m is Input => typeof (m as Partial<Input>).input === 'string');
    const audits = rest.filter((m): m is Audit => typeof (m as Partial<Audit>).audit === 'string');
    table.push({
      plugin,
      method: method.toUpperCase(),
      path: label,
      access: access.access,
      input: inputs.map((i) => i.input).join('; ') || null,
      audit: audits.map((a) => a.audit).join(', ') || null,
    });
    // Declared middleware first, whatever order the line lists them in: access, then audit (it
    // only names the action), then input; the handler last.
    const ordered = [access, ...audits, ...inputs, ...rest.filter((m) => !inputs.includes(m as Input) && !audits.includes(m as Audit))];
    (router[method] as (path: string | RegExp, ...mw: RouteMiddleware[]) => unknown)(path, ...ordered);
  };
  return {
    get: (path, access, ...rest) => add('get', path, path, access, rest),
    post: (path, access, ...rest) => add('post', path, path, access, rest),
    put: (path, access, ...rest) => add('put', path, path, access, rest),
    patch: (path, access, ...rest) => add('patch', path, path, access, rest),
    delete: (path, access, ...rest) => add('delete', path, path, access, rest),
    pattern: (method, label, path, access, ...rest) => add(method, path, label, access, rest),
  };
}

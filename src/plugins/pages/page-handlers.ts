import { readCache, requestVersion } from '../../db/read-cache.js';
import { attachment } from '../../core/http.js';
import type { RouteContext } from '../../core/routes.js';
import { currentUser, isStaffRole, requireUser, roleIn, type CurrentUser, type Role } from '../../lib/auth.js';
import type { Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import { formatDateTime } from '../../lib/views.js';
import { markReplayable } from '../../lib/replay.js';
import type { AppContext, Deps } from '../../plugin.js';
import { findMember } from '../accounts/members.js';
import { toCurrentUser } from '../accounts/users.js';
import { commentHandlers, createCommentViews, EDIT_WINDOW_MS, MAX_COMMENT_LENGTH, RATE_LIMIT, type CommentHandlers, type CommentHost } from './comments.js';
import { pageCounters, renderCounters } from './counters.js';
import { fileType, openFile, resolveFile, safeSegments } from './files.js';
import { createLibraries, type CourseLibrary, type Libraries, type PageEntry, type Viewer } from './library.js';
import { markdownReady } from './markdown.js';
import { buildNav, folderIndex, neighbours } from './navigation.js';
import { canSee, isReleased, readAccess as access } from './policy.js';
import { PageRenderCache } from './render-cache.js';
import { PageTemplateError, renderCompiled } from './template.js';

/**
 * Course pages: `<course>/pages/**.md` at `/courses/<slug>/<path>`, with navigation, personal
 * parts (student name, assignment variants), staff "view as", files beside the pages, and
 * comments. See library.ts (finding and caching pages), template.ts (markdown + nunjucks),
 * files.ts (downloads), comments.ts, policy.ts (who reads what). Assignment variants come from
 * the optional `variants` service (src/plugins/assignments/variant-service.ts).
 */

/** A course page's address, and a file's beside the pages: pattern routes (routes.ts). */
export const PAGE_PATH = /^\/courses\/([^/]+)(?:\/(.*))?$/;
export const FILE_PATH = /^\/courses\/([^/]+)\/files\/(.+)$/;
/** The course list's address, with and without the slash. */
export const COURSES_PATH = /^\/courses\/?$/;
const FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox";

interface ViewAs {
  user: CurrentUser;
  role: Role;
  param: string;
  cannotSee: boolean;
}

interface Draft {
  body: string;
  error: string;
}

function notFound(): UserError {
  return new UserError(404, 'There is nothing at this address.');
}

export interface PageHandlers {
  /** The site's home: the course when there is one, the course list otherwise. */
  home(ctx: RouteContext): Promise<void>;
  courses(ctx: RouteContext): void;
  file(ctx: RouteContext): Promise<void>;
  page(ctx: RouteContext): Promise<void>;
  comments: CommentHandlers;
}

/** One app's course pages: its libraries, render cache and comment renderings live here. */
export function createPageHandlers(deps: Deps): PageHandlers {
  const { log } = deps;
  const libs: Libraries = createLibraries({ watch: deps.config.env === 'development', log, counters: pageCounters });
  const commentViews = createCommentViews(deps);
  const cache = readCache(deps.db);
  const rendered = new PageRenderCache(cache, deps.config.pageCacheMb * 1024 * 1024);

  function viewerOf(ctx: AppContext, course: Course): Viewer {
    return { role: roleIn(ctx, course.slug), now: deps.clock.now() };
  }

  function courseOf(raw: string | undefined): Course {
    const course = raw ? deps.content.course(raw) : undefined;
    if (!course) throw new UserError(404, 'There is no such course.');
    return course;
  }

  function logOnce(entry: PageEntry, err: PageTemplateError): void {
    const key = `${err.line}:${err.message}`;
    if (entry.version.logged.has(key)) return;
    entry.version.logged.add(key);
    log.warn({ file: entry.file, line: err.line, problem: err.message, course: entry.base }, 'page template error');
  }

  function resolveViewAs(ctx: AppContext, course: Course, entry: PageEntry, now: number): ViewAs | null {
    const raw = typeof ctx.query.as === 'string' ? ctx.query.as.trim() : '';
    if (!raw) return null;
    const member = findMember(deps, course.slug, raw);
    // The same answer for an unknown address and another course's member: nothing leaks.
    if (!member) throw new UserError(404, `${course.title} has no member "${raw.slice(0, 254)}".`);
    const target = toCurrentUser(member.row);
    const role = member.role;
    ctx.state.log.info({ viewAs: target.id, page: entry.key }, 'staff view as');
    return { user: target, role, param: raw, cannotSee: !canSee(entry, { role, now }) };
  }

  /**
   * Awaits the variants the page names, from the `variants` service (read at render time: an app
   * without the assignments plugin has none, and staff are told so). A service that fails (a busy
   * or broken sandbox) does not take the page down: its values are empty, the reader is told to
   * reload, and the failure is logged once per page version and message. Variants found are kept in the read
   * cache until the database changes (a regeneration, a new version, anything at all).
   */
  async function variantsFor(
    slugs: string[],
    course: Course,
    user: CurrentUser | null,
    notes: string[],
    readerNotes: string[],
    entry: PageEntry,
    version: string | undefined,
  ): Promise<Map<string, Record<string, unknown>>> {
    const out = new Map<string, Record<string, unknown>>();
    if (!slugs.length || !user) return out;
    const service = deps.services.variants;
    if (!service) {
      notes.push(`Assignment values (variant("${slugs.join('"), variant("')}")) are empty: no variant resolver is registered, so the assignments plugin is not loaded.`);
      return out;
    }
    await Promise.all(
      slugs.map(async (slug) => {
        const cacheKey = `variant:${course.slug}:${slug}:${user.id}`;
        let result = cache.peek<{ params: Record<string, unknown> }>(cacheKey, version) ?? null;
        try {
          if (!result) {
            result = await service.resolve({ course: course.slug, slug, user });
            if (result) cache.put(cacheKey, version, result);
          }
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          const key = `variant:${slug}:${message}`;
          if (!entry.version.logged.has(key)) {
            entry.version.logged.add(key);
            log.error({ err, file: entry.file, slug, user: user.id }, 'variant resolver failed');
          }
          readerNotes.push(`Your values for "${slug}" could not be loaded just now. Please reload the page in a moment.`);
          notes.push(`variant("${slug}") failed for ${user.name}: ${message}`);
          return;
        }
        if (result) out.set(slug, result.params);
        else notes.push(`variant("${slug}") is empty: this course has no assignment "${slug}" open yet (a new one opens when its self-check passes), or its generator failed (see the assignment's page).`);
      }),
    );
    return out;
  }

  /** Renders an entry (or the generated course home when `entry` is null). */
  async function show(ctx: AppContext, course: Course, lib: CourseLibrary, entry: PageEntry | null, draft?: Draft): Promise<void> {
    const user = currentUser(ctx);
    const viewer = viewerOf(ctx, course);
    const staff = isStaffRole(viewer.role);
    const now = viewer.now;
    const viewAs = staff && entry ? resolveViewAs(ctx, course, entry, now) : null;
    const subject = viewAs?.user ?? user;
    const readerView: Viewer = viewAs ? { role: viewAs.role, now } : viewer;
    const query = viewAs ? `?as=${encodeURIComponent(viewAs.param)}` : '';
    const fmt = (ms: number) => formatDateTime(ms, course.timezone);

    // A visitor without a session has no version yet: the cache needs one (a signed-in reader's
    // was taken by the session middleware).
    const version = requestVersion(ctx.state) ?? (user || staff || draft || !rendered.enabled ? undefined : cache.check());
    // The one-time welcome notice after sign-up (app.ts) is not kept.
    const readerKey = !staff && !draft && version !== undefined && ctx.query.welcome === undefined ? rendered.keyFor(ctx.path, ctx.state, version) : null;
    // A course.yaml read again without a restart (src/lib/content.ts) changes what every page shows.
    const cacheKey = readerKey === null ? null : `${readerKey}\n${deps.content.generation ?? 0}`;
    const pageVersion = entry?.version ?? null;
    if (cacheKey !== null) {
      const hit = rendered.get(cacheKey, version!, lib, pageVersion, now);
      if (hit !== undefined) {
        renderCounters.hits += 1;
        ctx.type = 'html';
        ctx.body = hit;
        markReplayable(ctx, { shared: false, version, validUntil: rendered.validUntil(cacheKey) });
        return;
      }
    }
    renderCounters.renders += 1;
    // The next moment the clock alone would change this page: a release, a comment's edit minute.
    let validUntil = rendered.nextRelease(lib, now);

    const notes: string[] = [];
    const readerNotes: string[] = [];
    let html: string | null = null;
    let error: PageTemplateError | null = null;
    if (entry) {
      const v = entry.version;
      if (staff) {
        if (v.metaError) notes.push(`${entry.rel}: ${v.metaError}. Until it is fixed only staff see this page.`);
        else {
          if (v.meta.visibility === 'staff') notes.push('Staff only: students do not see this page.');
          if (!isReleased(entry, now)) notes.push(`Not released yet: students see this page from ${fmt(v.meta.release!)}.`);
        }
      }
      try {
        if (!v.compiled) await markdownReady(v.body);
        const compiled = libs.compiled(entry);
        let dynamic = false;
        const variants = await variantsFor(compiled.variantSlugs, course, subject, notes, readerNotes, entry, requestVersion(ctx.state));
        html = renderCompiled(compiled, {
          student: subject ? { name: subject.name, id: subject.studentId ?? '', email: subject.email } : null,
          course: { slug: course.slug, title: course.title, code: course.code, term: course.term },
          page: { title: v.meta.title },
          variant: (slug: unknown) => {
            const hit = variants.get(String(slug));
            if (!hit && !compiled.variantSlugs.includes(String(slug))) dynamic = true;
            return hit ?? {};
          },
        });
        if (dynamic) notes.push('variant(...) was called with a slug that is not written out literally ("..." or \'...\'); such calls are empty.');
      } catch (err) {
        if (!(err instanceof PageTemplateError)) throw err;
        error = err;
        logOnce(entry, err);
      }
    }

    const nav = buildNav(lib, readerView, { currentKey: entry?.key ?? '', query, formatDate: fmt });
    const { prev, next } = entry ? neighbours(lib, entry, readerView) : { prev: null, next: lib.ordered.find((e) => canSee(e, readerView)) ?? null };
    const link = (e: PageEntry | null) => (e ? { title: e.version.meta.title, url: e.url + query } : null);

    let comments = null;
    let commentMode: 'form' | 'signin' | 'members' | 'none' = 'none';
    if (entry && !error) {
      if (!user) commentMode = 'signin';
      else if (!viewer.role) commentMode = 'members';
      else {
        commentMode = 'form';
        comments = await commentViews.of(course.slug, entry.key, { userId: user.id, staff, now, version: requestVersion(ctx.state) });
        for (const c of comments) {
          if (c.canEdit) validUntil = Math.min(validUntil, c.createdAt + EDIT_WINDOW_MS - (c.editMinutesLeft - 1) * 60_000);
        }
      }
    }
    if (error) ctx.status = 503;
    ctx.render('pages/page.njk', {
      course,
      page: {
        key: entry?.key ?? '',
        title: entry ? entry.version.meta.title : course.title,
        url: entry ? entry.url : `/courses/${course.slug}/`,
        html,
        generated: !entry,
      },
      nav,
      homeUrl: `/courses/${course.slug}/${query}`,
      prev: link(prev),
      next: link(next),
      notes: staff ? notes : [],
      readerNotes: staff ? [] : readerNotes,
      pageError: error ? { staff, where: error.where, message: error.message } : null,
      viewAs: viewAs
        ? { name: viewAs.user.name, email: viewAs.user.email, role: viewAs.role, stopUrl: entry!.url, cannotSee: viewAs.cannotSee }
        : null,
      isStaffView: staff,
      staff,
      comments,
      commentMode,
      commentAction: `/courses/${course.slug}/comments`,
      commentDraft: draft ?? null,
      commentLimits: { maxLength: MAX_COMMENT_LENGTH, editMinutes: EDIT_WINDOW_MS / 60_000, perMinute: RATE_LIMIT.count },
      signInUrl: `/login?next=${encodeURIComponent(entry ? entry.url : ctx.path)}`,
    });
    if (cacheKey !== null && !error && readerNotes.length === 0 && ctx.status === 200 && typeof ctx.body === 'string') {
      const kept = rendered.put(cacheKey, version!, lib, pageVersion, validUntil, ctx.body, ctx.state.csrfToken ?? '');
      if (kept) {
        // The same bytes as a later hit: the ETag and a replay see one body.
        ctx.body = kept;
        markReplayable(ctx, { shared: false, version, validUntil });
      }
    }
  }

  /** Another spelling of a page (trailing slash or not, ".md"), to redirect to. */
  function alternative(lib: CourseLibrary, key: string): PageEntry | null {
    const tries: string[] = [];
    if (key.endsWith('/')) tries.push(key.slice(0, -1));
    else if (key) tries.push(`${key}/`);
    if (key.endsWith('.md')) {
      const bare = key.slice(0, -3);
      tries.push(bare === 'index' ? '' : bare.endsWith('/index') ? bare.slice(0, -5) : bare);
    }
    for (const k of tries) {
      const hit = lib.byKey.get(k);
      if (hit) return hit;
    }
    return null;
  }

  async function servePage(ctx: AppContext, course: Course, key: string): Promise<void> {
    const lib = await libs.get(course);
    const user = currentUser(ctx);
    const viewer = viewerOf(ctx, course);
    const entry = lib.byKey.get(key) ?? null;
    if (!entry && key === '') {
      // A course without pages/index.md still has a home: its description and page list.
      return show(ctx, course, lib, null);
    }
    if (!entry) {
      const alt = alternative(lib, key);
      const altAccess = alt ? access(alt, viewer, user, viewer.now) : 'hidden';
      if (alt && altAccess !== 'hidden') {
        ctx.status = 301;
        return ctx.redirect(alt.url + (ctx.querystring ? `?${ctx.querystring}` : ''));
      }
      throw notFound();
    }
    const a = access(entry, viewer, user, viewer.now);
    if (a === 'login') requireUser(ctx);
    if (a !== 'ok') throw notFound();
    await show(ctx, course, lib, entry);
  }

  const host: CommentHost = {
    async pageUrl(ctx: AppContext, course: Course, key: string): Promise<string> {
      const lib = await libs.get(course);
      const entry = lib.byKey.get(key);
      if (!entry || access(entry, viewerOf(ctx, course), currentUser(ctx), deps.clock.now()) !== 'ok') throw notFound();
      return entry.url;
    },
    async renderWithDraft(ctx: AppContext, course: Course, key: string, draft: Draft): Promise<void> {
      const lib = await libs.get(course);
      const entry = lib.byKey.get(key);
      if (!entry) throw notFound();
      const status = ctx.status;
      await show(ctx, course, lib, entry, draft);
      if (ctx.status === 200) ctx.status = status;
    },
  };

  return {
    async home(ctx) {
      const { courses } = deps.content;
      if (courses.length === 1 && courses[0]) return servePage(ctx, courses[0], '');
      ctx.render('pages/courses.njk', { courses });
    },

    courses(ctx) {
      if (ctx.path === '/courses') {
        ctx.status = 301;
        return ctx.redirect('/courses/');
      }
      ctx.render('pages/courses.njk', { courses: deps.content.courses });
    },

    async file(ctx) {
      const m = FILE_PATH.exec(ctx.path)!;
      const course = courseOf(m[1]);
      const lib = await libs.get(course);
      const segments = safeSegments(m[2] ?? '');
      if (!lib.pagesRoot || !segments || segments.length === 0) throw notFound();
      const index = folderIndex(lib, segments.slice(0, -1).join('/'));
      const a = access(index, viewerOf(ctx, course), currentUser(ctx), deps.clock.now());
      if (a === 'login') requireUser(ctx);
      if (a !== 'ok') throw notFound();
      const file = await resolveFile(lib.pagesRoot, segments);
      if (!file) throw notFound();
      const name = segments.at(-1)!;
      const type = fileType(name);
      ctx.type = type.type;
      ctx.set('Content-Disposition', attachment(name, type.inline ? 'inline' : 'attachment'));
      ctx.set('Cache-Control', 'private, no-cache');
      ctx.set('ETag', `W/"${file.size.toString(16)}-${Math.floor(file.mtime.getTime()).toString(16)}"`);
      ctx.lastModified = file.mtime;
      // A PDF needs the browser's viewer, which a sandboxing CSP would block; anything else (an
      // SVG above all) is shown without script and without our origin.
      if (type.type === 'application/pdf') ctx.remove('Content-Security-Policy');
      else ctx.set('Content-Security-Policy', FILE_CSP);
      // ctx.fresh only compares validators on a 2xx response.
      ctx.status = 200;
      if (ctx.fresh) {
        ctx.status = 304;
        return;
      }
      ctx.length = file.size;
      ctx.body = openFile(file.real);
    },

    async page(ctx) {
      const m = PAGE_PATH.exec(ctx.path)!;
      const course = courseOf(m[1]);
      if (m[2] === undefined) {
        ctx.status = 301;
        return ctx.redirect(`/courses/${course.slug}/${ctx.querystring ? `?${ctx.querystring}` : ''}`);
      }
      const segments = safeSegments(m[2], true);
      if (!segments) throw notFound();
      const key = segments.join('/') + (segments.length && m[2].endsWith('/') ? '/' : '');
      await servePage(ctx, course, key);
    },

    comments: commentHandlers(deps, host),
  };
}

import type { Dirent } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { isStaffRole, type Role } from '../../lib/auth.js';
import type { Course } from '../../lib/content.js';
import { formatZodIssues } from '../../lib/content.js';
import type { Logger } from '../../lib/logger.js';
import { isInside } from './files.js';
import { createPageCompiler, PageTemplateError, type CompiledPage } from './template.js';

/**
 * The pages of a course: found by walking `<course>/pages/`, each file parsed once per version
 * (path + mtime + size), its markdown compiled lazily on first view and kept.
 *
 * In production the walk happens once per course (first request) and never again: no stat per
 * request, a deploy is picked up by the restart. In development every request walks the folder
 * again (a readdir and a stat per file), so an edit shows on the next reload, and only the changed
 * files are parsed again.
 */

export type Visibility = 'public' | 'enrolled' | 'staff';

export interface PageMeta {
  title: string;
  order: number;
  visibility: Visibility;
  /** ms since the epoch; before it only staff see the page. */
  release: number | null;
}

export interface PageVersion {
  mtimeMs: number;
  size: number;
  meta: PageMeta;
  /** A front matter problem: the page is then shown to staff only, with this message. */
  metaError: string | null;
  body: string;
  firstLine: number;
  compiled?: CompiledPage;
  compileError?: PageTemplateError;
  /** Error messages already logged for this version (log once, not per request). */
  logged: Set<string>;
}

export interface PageEntry {
  /** "" (course home), "syllabus", "week1/" (a folder's index.md), "week1/intro". */
  key: string;
  /** Relative to the course folder, for messages to staff: "pages/week1/intro.md". */
  rel: string;
  file: string;
  /** Folder relative to pages/, posix: "" or "week1". */
  folder: string;
  isIndex: boolean;
  /** "/courses/prog1/week1/intro" */
  url: string;
  /** "/courses/prog1/" */
  base: string;
  version: PageVersion;
}

export interface TreeNode {
  name: string;
  title: string;
  order: number;
  isFolder: boolean;
  /** A folder's index.md, or the page of a leaf. */
  page: PageEntry | null;
  children: TreeNode[];
}

export interface CourseLibrary {
  course: Course;
  byKey: Map<string, PageEntry>;
  root: TreeNode;
  /** Every page in reading order (home, then depth first in nav order). */
  ordered: PageEntry[];
  /** Real path of <course>/pages, or null when the course has none. */
  pagesRoot: string | null;
}

export interface Viewer {
  role: Role | null;
  now: number;
}

export interface PageCounters {
  /** Front matter parses (one per file version read). */
  reads: number;
  /** markdown-it renders of a page body (one per file version viewed). */
  markdown: number;
  /** nunjucks compilations (one per file version viewed). */
  compile: number;
}

const DEFAULT_ORDER = 1000;
const FRONT_MATTER = /^---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/;
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

const metaSchema = z.object({
  title: z.string().trim().min(1).max(300).optional(),
  order: z.number().finite().optional(),
  visibility: z.enum(['public', 'enrolled', 'staff']).default('enrolled'),
  release: z
    .string()
    .regex(ISO_WITH_OFFSET, 'use an ISO 8601 date and time with an offset, e.g. 2026-10-05T08:00:00+02:00')
    .refine((s) => !Number.isNaN(Date.parse(s)), 'not a real date')
    .optional(),
});

function prettyName(name: string): string {
  const base = name.replace(/\.md$/, '').replace(/[-_]+/g, ' ').trim();
  return base ? base[0]!.toUpperCase() + base.slice(1) : name;
}

export function parsePageSource(text: string, fallbackTitle: string, mtimeMs: number, size: number): PageVersion {
  // Editors on Windows may start the file with a byte order mark, which would hide the front matter.
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const m = FRONT_MATTER.exec(source);
  const body = m ? source.slice(m[0].length) : source;
  const firstLine = m ? m[0].split('\n').length - (m[0].endsWith('\n') ? 0 : 1) : 1;
  const heading = /^#[ \t]+(.+?)[ \t#]*$/m.exec(body)?.[1];
  const fallback = heading && !heading.includes('{') ? heading : fallbackTitle;
  let metaError: string | null = null;
  let meta: PageMeta = { title: fallback, order: DEFAULT_ORDER, visibility: 'staff', release: null };
  let raw: unknown = {};
  if (m) {
    try {
      raw = parseYaml(m[1] ?? '') ?? {};
    } catch (err) {
      metaError = `front matter is not valid YAML: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  if (!metaError) {
    const parsed = metaSchema.safeParse(typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : { __invalid: true });
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) metaError = 'front matter must be a YAML mapping (title: ..., order: ...)';
    else if (!parsed.success) metaError = `front matter: ${formatZodIssues(parsed.error.issues).join('; ')}`;
    else {
      meta = {
        title: parsed.data.title ?? fallback,
        order: parsed.data.order ?? DEFAULT_ORDER,
        visibility: parsed.data.visibility,
        release: parsed.data.release ? Date.parse(parsed.data.release) : null,
      };
    }
  }
  return { mtimeMs, size, meta, metaError, body, firstLine, logged: new Set() };
}

function compareNodes(a: TreeNode, b: TreeNode): number {
  return a.order - b.order || a.title.localeCompare(b.title, 'en', { numeric: true, sensitivity: 'base' }) || a.name.localeCompare(b.name);
}

export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

function buildTree(course: Course, entries: PageEntry[]): { root: TreeNode; ordered: PageEntry[] } {
  const root: TreeNode = { name: '', title: course.title, order: 0, isFolder: true, page: null, children: [] };
  const folders = new Map<string, TreeNode>([['', root]]);
  const folderNode = (folder: string): TreeNode => {
    const hit = folders.get(folder);
    if (hit) return hit;
    const parent = folderNode(path.posix.dirname(folder) === '.' ? '' : path.posix.dirname(folder));
    const name = path.posix.basename(folder);
    const node: TreeNode = { name, title: prettyName(name), order: DEFAULT_ORDER, isFolder: true, page: null, children: [] };
    parent.children.push(node);
    folders.set(folder, node);
    return node;
  };
  for (const entry of entries) {
    const folder = folderNode(entry.folder);
    if (entry.isIndex) {
      folder.page = entry;
      folder.title = entry.version.meta.title;
      if (folder !== root) folder.order = entry.version.meta.order;
    } else {
      folder.children.push({
        name: path.posix.basename(entry.key),
        title: entry.version.meta.title,
        order: entry.version.meta.order,
        isFolder: false,
        page: entry,
        children: [],
      });
    }
  }
  const ordered: PageEntry[] = [];
  const visit = (node: TreeNode) => {
    node.children.sort(compareNodes);
    if (node.page) ordered.push(node.page);
    for (const child of node.children) visit(child);
  };
  visit(root);
  return { root, ordered };
}

export interface LibraryOptions {
  /** Walk the folder again on every request (development). */
  watch: boolean;
  log: Logger;
  counters: PageCounters;
}

export interface Libraries {
  get(course: Course): Promise<CourseLibrary>;
  /** The compiled page, compiled on first use per file version; throws PageTemplateError. */
  compiled(entry: PageEntry): CompiledPage;
}

export function createLibraries(options: LibraryOptions): Libraries {
  const { log, counters } = options;
  const versions = new Map<string, PageVersion>();
  const built = new Map<string, Promise<CourseLibrary>>();
  const compiler = createPageCompiler(counters);
  // Problems with the folder layout are logged once per file, not on every walk (development).
  const warnedOutside = new Set<string>();

  async function scan(course: Course): Promise<CourseLibrary> {
    const pagesDir = path.join(course.dir, 'pages');
    let pagesRoot: string | null;
    try {
      pagesRoot = await realpath(pagesDir);
      if (!(await stat(pagesRoot)).isDirectory()) pagesRoot = null;
    } catch {
      pagesRoot = null;
    }
    const entries: PageEntry[] = [];
    const seenFiles = new Set<string>();
    if (pagesRoot) {
      const root = pagesRoot;
      const visitedDirs = new Set<string>([root]);
      const base = `/courses/${course.slug}/`;
      const walk = async (dirAbs: string, folder: string): Promise<void> => {
        let list: Dirent[];
        try {
          list = await readdir(dirAbs, { withFileTypes: true });
        } catch (err) {
          log.warn({ err, dir: dirAbs }, 'cannot read a pages folder');
          return;
        }
        list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        for (const dirent of list) {
          if (dirent.name.startsWith('.')) continue;
          const full = path.join(dirAbs, dirent.name);
          let isDir = dirent.isDirectory();
          let isFile = dirent.isFile();
          let real = full;
          if (dirent.isSymbolicLink()) {
            try {
              real = await realpath(full);
            } catch {
              continue;
            }
            if (!isInside(root, real)) {
              if (!warnedOutside.has(full)) {
                warnedOutside.add(full);
                log.warn({ file: full }, 'ignoring a symlink that points outside the pages folder');
              }
              continue;
            }
            const info = await stat(real).catch(() => null);
            if (!info) continue;
            isDir = info.isDirectory();
            isFile = info.isFile();
          }
          const relPath = folder ? `${folder}/${dirent.name}` : dirent.name;
          if (isDir) {
            if (visitedDirs.has(real)) continue;
            visitedDirs.add(real);
            await walk(full, relPath);
            continue;
          }
          if (!isFile || !dirent.name.endsWith('.md') || dirent.name === '.md') continue;
          const info = await stat(real).catch(() => null);
          if (!info) continue;
          seenFiles.add(full);
          const isIndex = dirent.name === 'index.md';
          let version = versions.get(full);
          if (!version || version.mtimeMs !== info.mtimeMs || version.size !== info.size) {
            let source: string;
            try {
              source = await readFile(real, 'utf8');
            } catch (err) {
              log.warn({ err, file: full }, 'cannot read a page');
              continue;
            }
            counters.reads++;
            const fallbackTitle = isIndex ? (folder ? prettyName(path.posix.basename(folder)) : course.title) : prettyName(dirent.name);
            version = parsePageSource(source, fallbackTitle, info.mtimeMs, info.size);
            versions.set(full, version);
            if (version.metaError) log.warn({ file: full, problem: version.metaError }, 'page front matter problem: the page is shown to staff only');
          }
          const key = isIndex ? (folder ? `${folder}/` : '') : relPath.slice(0, -3);
          if (key.startsWith('files/') && key !== 'files/' && !warnedOutside.has(full)) {
            warnedOutside.add(full);
            log.warn({ file: full }, 'a page under pages/files/ cannot be reached: /courses/<course>/files/... serves files; rename the folder');
          }
          entries.push({ key, rel: `pages/${relPath}`, file: full, folder, isIndex, url: base + encodeKey(key), base, version });
        }
      };
      await walk(root, '');
      const prefix = pagesDir + path.sep;
      for (const file of versions.keys()) if (file.startsWith(prefix) && !seenFiles.has(file)) versions.delete(file);
    }
    const byKey = new Map(entries.map((e) => [e.key, e]));
    const { root, ordered } = buildTree(course, entries);
    return { course, byKey, root, ordered, pagesRoot };
  }

  return {
    get(course) {
      if (options.watch) return scan(course);
      // A course made on the web that later gets its folder is scanned again (src/lib/content.ts).
      const key = `${course.slug}\0${course.source ?? 'file'}`;
      let hit = built.get(key);
      if (!hit) {
        hit = scan(course);
        built.set(key, hit);
        hit.catch(() => built.delete(key));
      }
      return hit;
    },
    compiled(entry) {
      const v = entry.version;
      if (v.compiled) return v.compiled;
      if (v.compileError) throw v.compileError;
      try {
        v.compiled = compiler.compile(v.body, {
          file: entry.rel,
          firstLine: v.firstLine,
          links: { base: entry.base, folder: entry.folder },
        });
        return v.compiled;
      } catch (err) {
        if (!(err instanceof PageTemplateError)) throw err;
        v.compileError = err;
        throw err;
      }
    },
  };
}

export function isReleased(entry: PageEntry, now: number): boolean {
  const release = entry.version.meta.release;
  return release === null || now >= release;
}

/** Whether the viewer may read the page. Staff see everything, including pages with errors. */
export function canSee(entry: PageEntry, viewer: Viewer): boolean {
  if (isStaffRole(viewer.role)) return true;
  const v = entry.version;
  if (v.metaError) return false;
  if (!isReleased(entry, viewer.now)) return false;
  if (v.meta.visibility === 'staff') return false;
  if (v.meta.visibility === 'enrolled') return viewer.role !== null;
  return true;
}

export interface NavItem {
  title: string;
  url: string | null;
  current: boolean;
  /** Staff-only annotations: "staff only", "from 5 Oct", "error". */
  notes: string[];
  children: NavItem[];
}

export interface NavOptions {
  currentKey: string | null;
  /** Appended to every link (the "view as" query). */
  query: string;
  formatDate(ms: number): string;
}

/** The course's page tree with only what the viewer may read; folders with nothing readable vanish. */
export function buildNav(lib: CourseLibrary, viewer: Viewer, options: NavOptions): NavItem[] {
  const staff = isStaffRole(viewer.role);
  const notesFor = (entry: PageEntry): string[] => {
    if (!staff) return [];
    const notes: string[] = [];
    const v = entry.version;
    if (v.metaError) notes.push('front matter error');
    else {
      if (v.meta.visibility === 'staff') notes.push('staff only');
      if (v.meta.visibility === 'public') notes.push('public');
      if (!isReleased(entry, viewer.now)) notes.push(`from ${options.formatDate(v.meta.release!)}`);
    }
    return notes;
  };
  const item = (node: TreeNode): NavItem | null => {
    const page = node.page && canSee(node.page, viewer) ? node.page : null;
    const children = node.children.map(item).filter((c): c is NavItem => c !== null);
    if (!page && children.length === 0) return null;
    return {
      title: node.title,
      url: page ? page.url + options.query : null,
      current: page !== null && page.key === options.currentKey,
      notes: page ? notesFor(page) : [],
      children,
    };
  };
  return lib.root.children.map(item).filter((c): c is NavItem => c !== null);
}

export function neighbours(lib: CourseLibrary, entry: PageEntry, viewer: Viewer): { prev: PageEntry | null; next: PageEntry | null } {
  const visible = lib.ordered.filter((e) => e === entry || canSee(e, viewer));
  const i = visible.indexOf(entry);
  return { prev: i > 0 ? visible[i - 1]! : null, next: i >= 0 && i < visible.length - 1 ? visible[i + 1]! : null };
}

/** Files take the visibility of the nearest index.md above them; without one, enrolled. */
export function folderIndex(lib: CourseLibrary, folder: string): PageEntry | null {
  let f = folder;
  for (;;) {
    const entry = lib.byKey.get(f ? `${f}/` : '');
    if (entry) return entry;
    if (!f) return null;
    const parent = path.posix.dirname(f);
    f = parent === '.' ? '' : parent;
  }
}

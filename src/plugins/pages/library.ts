import type { Dirent } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Role } from '../../lib/auth.js';
import type { Course } from '../../lib/content.js';
import type { Logger } from '../../lib/logger.js';
import type { PageCounters } from './counters.js';
import { isInside } from './files.js';
import { DEFAULT_ORDER, parsePageSource, prettyName, type PageVersion } from './page-source.js';
import { createPageCompiler, PageTemplateError, type CompiledPage } from './template.js';

export type { PageMeta, PageVersion, Visibility } from './page-source.js';

/**
 * The pages of a course: found by walking `<course>/pages/`, each file parsed once per version
 * (path + mtime + size), its markdown compiled lazily on first view and kept.
 *
 * In production the walk happens once per course (first request) and never again: no stat per
 * request, a deploy is picked up by the restart. In development every request walks the folder
 * again (a readdir and a stat per file), so an edit shows on the next reload, and only the changed
 * files are parsed again.
 */

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

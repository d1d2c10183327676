import path from 'node:path';
import { isStaffRole } from '../../lib/auth.js';
import type { CourseLibrary, PageEntry, TreeNode, Viewer } from './library.js';
import { canSee, isReleased } from './policy.js';

/** What a reader sees around a page: the course's page tree, the previous and next page. */

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

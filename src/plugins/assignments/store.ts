import { chmod, copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { FolderPublisher } from '../../lib/publish-dir.js';
import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { Deps } from '../../plugin.js';
import { UserError } from '../../lib/errors.js';
import { adoptForeignBundle } from './foreign.js';
import { contentHash, DEFAULT_BUNDLE_LIMITS, sha256File, validateBundleDir, type BundleLimits, type ManifestEntry } from './bundle.js';
import type { AssignmentConfig, Problem } from './config.js';

export const SLUG = /^[a-z0-9][a-z0-9-]{0,63}$/;

export type VersionSource = 'folder' | 'upload' | 'cli';

export interface Assignment {
  id: number;
  course: string;
  slug: string;
  currentVersionId: number | null;
  /** Imported while another version was current; waits for its self-check (or a lecturer). */
  pendingVersionId: number | null;
  folderHash: string | null;
  createdAt: number;
}

export interface Version {
  id: number;
  assignmentId: number;
  number: number;
  contentHash: string;
  config: AssignmentConfig;
  manifest: ManifestEntry[];
  source: VersionSource;
  createdAt: number;
  createdBy: string;
}


/** A version row under its Version names; config and manifest are still JSON. */
type VersionRow = Omit<Version, 'config' | 'manifest'> & { config: string; manifest: string };

/** An assignment_versions row under its Version names. */
const VERSION = 'id, assignment_id AS assignmentId, number, content_hash AS contentHash, config, manifest, source, created_at AS createdAt, created_by AS createdBy';

/** An assignments row under its Assignment names. */
const ASSIGNMENT = 'id, course, slug, current_version AS currentVersionId, pending_version AS pendingVersionId, folder_hash AS folderHash, created_at AS createdAt';

function statements(db: Db) {
  return {
    assignment: db.prepare<{ course: string; slug: string }, Assignment>(`SELECT ${ASSIGNMENT} FROM assignments WHERE course = :course AND slug = :slug`),
    assignmentById: db.prepare<{ id: number }, Assignment>(`SELECT ${ASSIGNMENT} FROM assignments WHERE id = :id`),
    list: db.prepare<{ course: string }, Assignment>(`SELECT ${ASSIGNMENT} FROM assignments WHERE course = :course ORDER BY slug`),
    insertAssignment: db.prepare<{ course: string; slug: string; now: number }>(
      'INSERT INTO assignments (course, slug, created_at) VALUES (:course, :slug, :now) ON CONFLICT (course, slug) DO NOTHING',
    ),
    version: db.prepare<{ id: number }, VersionRow>(`SELECT ${VERSION} FROM assignment_versions WHERE id = :id`),
    versionByNumber: db.prepare<{ assignment_id: number; number: number }, VersionRow>(`SELECT ${VERSION} FROM assignment_versions WHERE assignment_id = :assignment_id AND number = :number`),
    versionByHash: db.prepare<{ assignment_id: number; hash: string }, VersionRow>(
      `SELECT ${VERSION} FROM assignment_versions WHERE assignment_id = :assignment_id AND content_hash = :hash ORDER BY number DESC LIMIT 1`,
    ),
    versions: db.prepare<{ assignment_id: number }, VersionRow>(`SELECT ${VERSION} FROM assignment_versions WHERE assignment_id = :assignment_id ORDER BY number DESC`),
    nextNumber: db.prepare<{ assignment_id: number }, { n: number }>('SELECT coalesce(max(number), 0) + 1 AS n FROM assignment_versions WHERE assignment_id = :assignment_id'),
    insertVersion: db.prepare<{ assignment_id: number; number: number; hash: string; config: string; manifest: string; source: string; now: number; by: string }>(
      `INSERT INTO assignment_versions (assignment_id, number, content_hash, config, manifest, source, created_at, created_by)
       VALUES (:assignment_id, :number, :hash, :config, :manifest, :source, :now, :by)`,
    ),
    setCurrent: db.prepare<{ id: number; version: number }>('UPDATE assignments SET current_version = :version, pending_version = NULL WHERE id = :id'),
    setPending: db.prepare<{ id: number; version: number | null }>('UPDATE assignments SET pending_version = :version WHERE id = :id'),
    promotePending: db.prepare<{ version: number }>('UPDATE assignments SET current_version = :version, pending_version = NULL WHERE pending_version = :version'),
    setFolderHash: db.prepare<{ id: number; hash: string }>('UPDATE assignments SET folder_hash = :hash WHERE id = :id'),
    manifests: db.prepare<[], { manifest: string }>('SELECT manifest FROM assignment_versions'),
    /**
     * Parsed versions by id. A version row never changes once written, so this is a memo of
     * immutable rows, not app state: it lives beside the statements, one per database, because
     * every plugin reads versions by (db, id) and the rows belong to that database.
     */
    parsedVersions: new Map<number, Version>(),
  };
}

export const sql = preparedFor(statements);

function toVersion(r: VersionRow): Version {
  return { ...r, config: JSON.parse(r.config) as AssignmentConfig, manifest: JSON.parse(r.manifest) as ManifestEntry[] };
}

export function getAssignment(db: Db, course: string, slug: string): Assignment | undefined {
  return sql(db).assignment.get({ course, slug });
}

export function getAssignmentById(db: Db, id: number): Assignment | undefined {
  return sql(db).assignmentById.get({ id });
}

/** Versions never change once written, so parsed ones are kept (per database). */
export function getVersion(db: Db, id: number): Version | undefined {
  const m = sql(db).parsedVersions;
  const hit = m.get(id);
  if (hit) return hit;
  const row = sql(db).version.get({ id });
  if (!row) return undefined;
  const v = toVersion(row);
  if (m.size > 1000) m.clear();
  m.set(id, v);
  return v;
}

export function getVersionByNumber(db: Db, assignmentId: number, number: number): Version | undefined {
  const row = sql(db).versionByNumber.get({ assignment_id: assignmentId, number });
  return row ? getVersion(db, row.id) : undefined;
}

export function listVersions(db: Db, assignmentId: number): Version[] {
  return sql(db)
    .versions.all({ assignment_id: assignmentId })
    .map((r) => getVersion(db, r.id)!);
}

export interface Current {
  assignment: Assignment;
  version: Version;
}

/** The assignment and the version students get now; undefined when there is none. */
export function currentVersion(db: Db, course: string, slug: string): Current | undefined {
  const assignment = getAssignment(db, course, slug);
  if (!assignment?.currentVersionId) return undefined;
  const version = getVersion(db, assignment.currentVersionId);
  return version ? { assignment, version } : undefined;
}

/**
 * What students are told about an assignment whose first version waits for its self-check (or a
 * lecturer): that it is not open, nothing about why. One text for every plugin's routes.
 */
export const NOT_OPEN_YET = 'This assignment is not open yet: it is still being prepared. Please try again later.';

/**
 * The assignment and its current version; 404 when there is no such assignment, 409 "not open
 * yet" when it has no current version yet (its first version waits for its self-check).
 */
export function currentOr404(db: Db, course: string, slug: string | undefined): Current {
  const assignment = slug !== undefined && SLUG.test(slug) ? getAssignment(db, course, slug) : undefined;
  const version = assignment?.currentVersionId ? getVersion(db, assignment.currentVersionId) : undefined;
  if (assignment && version) return { assignment, version };
  if (assignment?.pendingVersionId) throw new UserError(409, NOT_OPEN_YET);
  throw new UserError(404, 'There is no such assignment.');
}

/**
 * For staff pages: the current version, or while there is none the one waiting for its
 * self-check (a new assignment's first version), so that staff can see the check and confirm.
 */
export function currentOrPending(db: Db, course: string, slug: string | undefined): Current | undefined {
  const assignment = slug !== undefined && SLUG.test(slug) ? getAssignment(db, course, slug) : undefined;
  const id = assignment?.currentVersionId ?? assignment?.pendingVersionId;
  const version = id ? getVersion(db, id) : undefined;
  return assignment && version ? { assignment, version } : undefined;
}

/** Assignments with no current version yet, each with the version waiting for its self-check. */
export function listNotYetOpen(db: Db, course: string): Current[] {
  const out: Current[] = [];
  for (const assignment of sql(db).list.all({ course })) {
    if (assignment.currentVersionId || !assignment.pendingVersionId) continue;
    const version = getVersion(db, assignment.pendingVersionId);
    if (version) out.push({ assignment, version });
  }
  return out;
}

export function listAssignments(db: Db, course: string): Current[] {
  const out: Current[] = [];
  for (const assignment of sql(db).list.all({ course })) {
    const version = assignment.currentVersionId ? getVersion(db, assignment.currentVersionId) : undefined;
    if (version) out.push({ assignment, version });
  }
  return out.sort((a, b) => a.version.config.deadlineAt - b.version.config.deadlineAt || a.assignment.slug.localeCompare(b.assignment.slug));
}

/** Makes an earlier (or later) version the one students get. False when there is no such version. */
export function setCurrentVersion(db: Db, assignmentId: number, number: number): Version | undefined {
  const v = getVersionByNumber(db, assignmentId, number);
  if (!v) return undefined;
  sql(db).setCurrent.run({ id: assignmentId, version: v.id });
  return v;
}

/**
 * A held version whose self-check passed becomes current, unless a newer import or a lecturer's
 * choice took its place in the meantime. True when it did.
 */
export function promotePendingVersion(db: Db, versionId: number): boolean {
  return sql(db).promotePending.run({ version: versionId }).changes > 0;
}

/** Every blob a bundle version refers to, for the blob store's sweep. */
export function referencedBlobs(db: Db): Set<string> {
  const out = new Set<string>();
  for (const { manifest } of sql(db).manifests.all()) for (const e of JSON.parse(manifest) as ManifestEntry[]) out.add(e.sha256);
  return out;
}

export interface ImportRequest {
  course: string;
  slug: string;
  /** The bundle folder (for archives: already unpacked). */
  dir: string;
  source: VersionSource;
  /** Shown in the versions list: an e-mail address, "course folder", "command line". */
  createdBy: string;
  limits?: BundleLimits;
  /**
   * A new version (or an earlier one imported again) that may not be current yet: it waits as
   * the pending version while another one serves students. Given the version's id, true means
   * "hold it". A new assignment's first version is held too: it has no current version, so it is
   * not open to students, until its check passes or a lecturer confirms it. Undefined: current at once.
   */
  hold?: ((versionId: number) => boolean) | undefined;
}

export type ImportResult =
  | {
      ok: true;
      /**
       * created: a new version; unchanged: same as the current one; switched: same as an earlier
       * one, which is current again; held: the version waits for its self-check, the current one
       * (if any: a new assignment has none, so it is not open yet) stays.
       */
      outcome: 'created' | 'unchanged' | 'switched' | 'held';
      assignment: Assignment;
      version: Version;
    }
  | { ok: false; problems: Problem[] };

/**
 * The one import path for course folders, uploads and the command line: validate everything,
 * store the files in the blob store, then record the version in one transaction.
 */
export async function importBundle(deps: Pick<Deps, 'db' | 'blobs' | 'clock' | 'content' | 'config' | 'services'>, req: ImportRequest): Promise<ImportResult> {
  // An upload or command-line import of another system's autograder gets a default assignment.yaml.
  const adopted = req.source === 'folder' ? null : await adoptForeignBundle(req.dir, { slug: req.slug, now: deps.clock.now(), tmpDir: await importTmpDir(deps) });
  try {
    return await importBundleDir(deps, adopted ? { ...req, dir: adopted } : req);
  } finally {
    if (adopted) await rm(adopted, { recursive: true, force: true });
  }
}

async function importTmpDir(deps: Pick<Deps, 'config'>): Promise<string> {
  const dir = path.join(deps.config.dataDir, 'tmp');
  await mkdir(dir, { recursive: true });
  return dir;
}

async function importBundleDir(deps: Pick<Deps, 'db' | 'blobs' | 'clock' | 'content' | 'config' | 'services'>, req: ImportRequest): Promise<ImportResult> {
  const { db, blobs, clock } = deps;
  const problems: Problem[] = [];
  if (!deps.content.course(req.course)) problems.push({ file: '(import)', field: 'course', message: `there is no course "${req.course}"` });
  if (!SLUG.test(req.slug)) problems.push({ file: '(import)', field: 'slug', message: `"${req.slug}" is not a usable assignment id: use lowercase letters, digits and dashes (at most 64)` });
  const bundle = await validateBundleDir(req.dir, req.limits ?? DEFAULT_BUNDLE_LIMITS, { maxFiles: deps.config.bundleMaxFiles, maxBytes: deps.config.bundleMaxBytes });
  problems.push(...bundle.problems);
  if (problems.length || !bundle.config) return { ok: false, problems };

  const manifest: ManifestEntry[] = [];
  for (const f of bundle.files) manifest.push({ path: f.path, sha256: await sha256File(f.abs), size: f.size, mode: f.mode });
  const hash = contentHash(manifest);
  const config = bundle.config;
  const s = sql(db);
  if (req.source === 'folder') {
    // The common start-up case: nothing changed, so nothing to copy.
    const a = s.assignment.get({ course: req.course, slug: req.slug });
    if (a?.folderHash === hash && a.currentVersionId) return { ok: true, outcome: 'unchanged', assignment: a, version: getVersion(db, a.currentVersionId)! };
  }
  for (const [i, f] of bundle.files.entries()) {
    if (await blobs.has(manifest[i]!.sha256)) continue;
    const stored = await blobs.putFile(f.abs);
    // The file changed between hashing and copying: the manifest must describe what was stored.
    if (stored.sha256 !== manifest[i]!.sha256) return { ok: false, problems: [{ file: f.path, field: '', message: 'changed while it was being imported; try again' }] };
  }
  const now = clock.now();

  const result = db.transaction((): { outcome: 'created' | 'unchanged' | 'switched' | 'held'; assignmentId: number; versionId: number } => {
    s.insertAssignment.run({ course: req.course, slug: req.slug, now });
    const a = s.assignment.get({ course: req.course, slug: req.slug })!;
    if (req.source === 'folder') {
      // The folder is what git says now: unchanged since the last start means nothing to do,
      // even when a lecturer rolled back on the web in between.
      if (a.folderHash === hash && a.currentVersionId) return { outcome: 'unchanged', assignmentId: a.id, versionId: a.currentVersionId };
      s.setFolderHash.run({ id: a.id, hash });
    }
    const same = s.versionByHash.get({ assignment_id: a.id, hash });
    if (same) {
      if (a.currentVersionId === same.id) {
        // The lecturer went back to what serves students: nothing waits any more.
        if (a.pendingVersionId !== null) s.setPending.run({ id: a.id, version: null });
        return { outcome: 'unchanged', assignmentId: a.id, versionId: same.id };
      }
      if (req.hold?.(same.id)) {
        s.setPending.run({ id: a.id, version: same.id });
        return { outcome: 'held', assignmentId: a.id, versionId: same.id };
      }
      s.setCurrent.run({ id: a.id, version: same.id });
      return { outcome: 'switched', assignmentId: a.id, versionId: same.id };
    }
    const number = s.nextNumber.get({ assignment_id: a.id })!.n;
    const info = s.insertVersion.run({
      assignment_id: a.id,
      number,
      hash,
      config: JSON.stringify(config),
      manifest: JSON.stringify(manifest),
      source: req.source,
      now,
      by: req.createdBy,
    });
    const versionId = Number(info.lastInsertRowid);
    if (req.hold?.(versionId)) {
      s.setPending.run({ id: a.id, version: versionId });
      return { outcome: 'held', assignmentId: a.id, versionId };
    }
    s.setCurrent.run({ id: a.id, version: versionId });
    return { outcome: 'created', assignmentId: a.id, versionId };
  }).immediate();

  const version = getVersion(db, result.versionId)!;
  // A new environment starts building now rather than at the first submission.
  if (version.config.environment) deps.services.environments?.kick();
  return { ok: true, outcome: result.outcome, assignment: getAssignmentById(db, result.assignmentId)!, version };
}

/** One file of a version, or undefined. */
export function versionFile(version: Version, file: string): ManifestEntry | undefined {
  return version.manifest.find((e) => e.path === file);
}

// Process-wide on purpose, not per app: both maps are keyed by content (a blob's sha256, a bundle
// folder named by its content hash under the data dir), so apps sharing a process can only share
// identical bytes; readBlob and materialiseVersion are called from many plugins with their deps.
const textCache = new Map<string, Buffer>();
let textCacheBytes = 0;
const TEXT_CACHE_LIMIT = 32 * 1024 ** 2;

/** A blob's bytes; small ones are kept in memory since statements are read on every visit. */
export async function readBlob(deps: Pick<Deps, 'blobs'>, sha256: string): Promise<Buffer> {
  const hit = textCache.get(sha256);
  if (hit) return hit;
  const buf = await readFile(deps.blobs.path(sha256));
  if (buf.length <= 1024 ** 2) {
    if (textCacheBytes + buf.length > TEXT_CACHE_LIMIT) {
      textCache.clear();
      textCacheBytes = 0;
    }
    textCache.set(sha256, buf);
    textCacheBytes += buf.length;
  }
  return buf;
}

const bundleFolders = new FolderPublisher();


/**
 * The whole bundle of a version as a folder on disk (`<data>/bundles/<content hash>/`), for the
 * sandbox to bind: `tests/` for the autotests, `generate` for variants. Written to a temporary
 * folder and renamed into place, so a reader never sees half a bundle; shared by every version
 * with the same content. Files are world-readable because the sandbox runs as another user.
 */
export function materialiseVersion(deps: Pick<Deps, 'blobs' | 'config'>, version: Version): Promise<string> {
  const dir = path.join(deps.config.dataDir, 'bundles', version.contentHash);
  return bundleFolders.publish(dir, async (tmp) => {
    for (const e of version.manifest) {
      const file = path.join(tmp, ...e.path.split('/'));
      await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
      await copyFile(deps.blobs.path(e.sha256), file);
      await chmod(file, e.mode === 0o755 ? 0o755 : 0o644);
    }
  });
}

import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import picomatch from 'picomatch';
import { UserError } from '../../lib/errors.js';
import { markCommitted } from '../../lib/lifecycle.js';
import { requireDiskSpace, retryBusy } from '../../lib/unavailable.js';
import type { AppContext, Deps } from '../../plugin.js';
import { ArchiveError, DEFAULT_ARCHIVE_LIMITS, detectArchive, extractArchive } from '../assignments/archive.js';
import { describeBytes, type AssignmentConfig } from '../assignments/config.js';
import type { Current } from '../assignments/store.js';
import { ensureVariant } from '../assignments/variants.js';
import { timing, rulesOf } from '../assignments/deadline.js';
import { extensionFor, insertSubmission, submissionsSince, type Submission, type SubmissionFile } from './store.js';
import { checkTeamMaySubmit } from '../teams/rules.js';
import { shownVersionFor } from '../assignments/freeze.js';
import { discard, receiveMultipart, safeFileName, type ReceivedFile } from './upload.js';

const HOUR = 3_600_000;

export interface Receipt {
  submission: Submission;
  files: SubmissionFile[];
  jobId: number;
}

/** Missing and extra files against the bundle's expected names/globs, in one message. */
export function checkExpectedFiles(names: string[], expected: string[]): string | null {
  const matchers = expected.map((p) => ({ pattern: p, match: picomatch(p, { dot: false, nocase: false }) }));
  const missing = matchers.filter((m) => !names.some((n) => m.match(n))).map((m) => m.pattern);
  const extra = names.filter((n) => !matchers.some((m) => m.match(n)));
  if (!missing.length && !extra.length) return null;
  const parts: string[] = [];
  if (missing.length) parts.push(`missing: ${missing.join(', ')}`);
  if (extra.length) parts.push(`not expected: ${extra.join(', ')}`);
  return `The submission does not match what the assignment expects (${expected.join(', ')}): ${parts.join('; ')}.`;
}

/**
 * submissions_per_hour. Asked before the body is read (to refuse early) and again inside the
 * transaction that inserts the submission, where no other upload can come between the count and
 * the insert: parallel uploads cannot all slip under the limit.
 */
function checkRate(deps: Deps, current: Current, userId: number, now: number): void {
  const perHour = current.version.config.submissionsPerHour;
  if (perHour === null) return;
  const recent = submissionsSince(deps.db, current.assignment.id, userId, now - HOUR);
  if (recent.count < perHour) return;
  const retryAt = (recent.oldest ?? now) + HOUR;
  const minutes = Math.max(1, Math.ceil((retryAt - now) / 60_000));
  throw new UserError(429, `You can submit ${perHour} times per hour for this assignment. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`);
}

/** Refuses early (before reading the body) when the student may not submit now. */
export function checkCanSubmit(deps: Deps, current: Current, userId: number): { deadlineAt: number; lateMinutes: number; penaltyPct: number } {
  const config = current.version.config;
  const now = deps.clock.now();
  checkTeamMaySubmit(deps.db, config, current.assignment.id, userId);
  const t = timing(rulesOf(config), now, extensionFor(deps.db, current.assignment.id, userId));
  if (t.state === 'not_open') throw new UserError(403, `This assignment opens for submissions at ${new Date(t.opensAt).toISOString()}.`);
  if (t.state === 'closed') throw new UserError(403, `This assignment closed for submissions at ${new Date(t.closedAt).toISOString()}; nothing more is accepted.`);
  checkRate(deps, current, userId, now);
  return { deadlineAt: t.deadlineAt, lateMinutes: t.lateMinutes, penaltyPct: t.penaltyPct };
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A single uploaded .zip becomes its files (same limits as bundle import), flattened to base names. */
async function expandZip(deps: Deps, upload: ReceivedFile, config: AssignmentConfig, dir: string): Promise<ReceivedFile[]> {
  await mkdir(dir, { recursive: true });
  try {
    await extractArchive(upload.tempPath, dir, {
      ...DEFAULT_ARCHIVE_LIMITS,
      maxArchiveBytes: config.maxUploadBytes,
      maxTotalBytes: config.maxUploadBytes,
      maxFiles: config.maxFiles,
      maxDepth: 4,
      // Source files compress a few times at most; far more is a bomb even when small.
      ratioFloorBytes: 64 * 1024,
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    if (err instanceof ArchiveError) throw new UserError(422, `The zip file cannot be used: ${err.message}.`);
    throw new UserError(422, 'The zip file cannot be read: it may be damaged or not a zip file.');
  }
  const out: ReceivedFile[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const abs = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (e.name === '__MACOSX') continue;
        await walk(abs, r);
      } else if (e.isFile()) {
        if (e.name === '.DS_Store' || e.name.startsWith('._')) continue;
        const name = safeFileName(r.includes('/') ? r.split('/').pop()! : r);
        if (!name) throw new UserError(422, `The zip contains a file name that cannot be used: "${r.slice(0, 100)}".`);
        out.push({ field: upload.field, name, tempPath: abs, size: (await stat(abs)).size, sha256: await hashFile(abs) });
      }
    }
  };
  try {
    await walk(dir, '');
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return out;
}

/**
 * The intake path: check the deadline and rate limit, stream the files to temp files, check
 * them against the bundle, move them into the blob store, then write the submission, its files
 * and its test job in one transaction. Only after that commit is there a receipt.
 */
export async function receiveSubmission(ctx: AppContext, deps: Deps, current: Current, user: { id: number; name: string }): Promise<Receipt> {
  const userId = user.id;
  checkCanSubmit(deps, current, userId);
  try {
    await requireDiskSpace(deps.config.dataDir, deps.config.diskReserveMb, Number(ctx.get('content-length') || '0'));
  } catch (err) {
    // Read and drop the body so the client gets the answer instead of a reset mid-send.
    ctx.req.resume();
    throw err;
  }
  // A submission is tested against the student's own variant: make sure it exists (the student
  // may submit through the API without ever opening the assignment).
  const variant = await ensureVariant(deps, { course: current.assignment.course, slug: current.assignment.slug, user });
  if (!variant) throw new UserError(503, 'This assignment is not available yet: your personal version could not be prepared. Try again later; the teachers have been told.');
  // The files a student hands in are the ones the statement they read asks for: checked against,
  // and tested by, the version shown to them (src/plugins/assignments/freeze.ts), which may be
  // older than the current one. Deadline and rate stay the current version's, for everyone.
  const gradedBy = shownVersionFor(deps.db, current, userId);
  const config = gradedBy.config;
  const upload = await receiveMultipart(ctx, () => deps.blobs.tempPath(), {
    fileBytes: config.maxUploadBytes,
    files: config.maxFiles,
    totalBytes: config.maxUploadBytes,
    fieldBytes: 4 * 1024,
    fields: 8,
  });
  let files = upload.files;
  const cleanup: string[] = [];
  try {
    if (!files.length) throw new UserError(400, 'No file was uploaded. Choose the files to submit.');
    for (const f of files) if (f.size === 0) throw new UserError(400, `"${f.name}" is empty.`);
    const onlyZip = files.length === 1 && files[0]!.name.toLowerCase().endsWith('.zip') && !config.files.some((p) => picomatch(p)(files[0]!.name));
    if (onlyZip && (await detectArchive(files[0]!.tempPath)) === 'zip') {
      const zipped = files[0]!;
      const dir = `${deps.blobs.tempPath()}-zip`;
      cleanup.push(dir);
      files = await expandZip(deps, zipped, config, dir);
      await rm(zipped.tempPath, { force: true });
      if (!files.length) throw new UserError(400, 'The zip file holds no files.');
      for (const f of files) if (f.size === 0) throw new UserError(400, `"${f.name}" in the zip is empty.`);
    }
    const names = files.map((f) => f.name);
    const dupes = names.filter((n, i) => names.indexOf(n) !== i);
    if (dupes.length) throw new UserError(400, `The same file name was uploaded twice: ${[...new Set(dupes)].join(', ')}.`);
    if (files.length > config.maxFiles) throw new UserError(413, `Too many files: at most ${config.maxFiles} are accepted.`);
    const total = files.reduce((n, f) => n + f.size, 0);
    if (total > config.maxUploadBytes) throw new UserError(413, `The files are larger than the limit of ${describeBytes(config.maxUploadBytes)} in total.`);
    const mismatch = checkExpectedFiles(names, config.files);
    if (mismatch) throw new UserError(422, mismatch);

    // The deadline is judged again now that the upload is complete: the server clock decides.
    const late = checkCanSubmit(deps, current, userId);
    for (const f of files) await deps.blobs.adopt(f.tempPath, f.sha256);
    const grading = deps.services.grading;
    // A lock held by another process (a backup, the CLI) is waited for without stopping the
    // event loop; past a few seconds the student gets a 503 and the files are not kept.
    const receipt = await retryBusy(() => deps.db.transaction((): Receipt => {
      checkRate(deps, current, userId, deps.clock.now());
      const stored = files.map((f) => ({ name: f.name, sha256: f.sha256, size: f.size }));
      const submission = insertSubmission(deps.db, {
        assignmentId: current.assignment.id,
        versionId: gradedBy.id,
        userId,
        submittedAt: deps.clock.now(),
        ...late,
        files: stored,
      });
      const jobId = grading.enqueue(submission.id, gradedBy.id);
      grading.queue.supersedeOlder(current.assignment.id, userId, jobId, submission.teamId);
      return { submission, files: stored.sort((a, b) => a.name.localeCompare(b.name)), jobId };
    }).immediate());
    markCommitted(ctx.req);
    grading.notify();
    return receipt;
  } finally {
    await discard(files);
    await discard(upload.files);
    for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
  }
}

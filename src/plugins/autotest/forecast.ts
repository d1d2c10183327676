import { availableParallelism } from 'node:os';
import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import { readCache } from '../../db/read-cache.js';
import type { Deps } from '../../plugin.js';
import { listWorkers } from './redis-store.js';

/**
 * The one home of grading forecasts: how long the queue takes to drain, when a waiting
 * student's result should arrive, and whether a coming deadline's burst will be graded in time.
 *
 * The model. A job holds a grader slot for its wall time, except that when there are more slots
 * than cores, CPU-bound jobs share the cores: a job then holds its slot for at least
 * cpu × slots / cores. So a queue drains at min(slots / wall, cores / cpu) jobs per unit of
 * time, which is both limits at once: the graders and the machine. Wall and CPU times are the
 * medians of the latest recorded runs of the job's bundle version, else of its assignment, else
 * of the course; with no history at all there is no estimate, and nothing is shown.
 */
export interface JobCost {
  wallMs: number;
  cpuMs: number;
}

export interface Capacity {
  /** Jobs graded at once. */
  slots: number;
  /** Cores those slots share. */
  cores: number;
}

/** How long a job holds a slot under this capacity. */
export function serviceMs(cost: JobCost, capacity: Capacity): number {
  return Math.max(cost.wallMs, (cost.cpuMs * capacity.slots) / Math.max(1, capacity.cores));
}

export interface QueuePlanInput {
  now: number;
  capacity: Capacity;
  /** Jobs being graded: when they started and what they cost. */
  running: Array<{ id: number; startedAt: number; cost: JobCost | null }>;
  /** Queued jobs in the order graders take them. */
  queued: Array<{ id: number; cost: JobCost | null }>;
  /** For jobs with no history of their own. */
  fallback: JobCost | null;
}

export interface QueuePlan {
  /** Expected finishing instant of each job (running and queued) that has an estimate. */
  finishAt: Map<number, number>;
  /** When the last job known now should be done; null when nothing can be estimated. */
  drainAt: number | null;
}

/**
 * Lists the jobs onto the slots in queue order (each job to the slot free first). A running job
 * already past its expected time is taken to end now.
 */
export function planQueue(input: QueuePlanInput): QueuePlan {
  const { now, capacity } = input;
  const finishAt = new Map<number, number>();
  if (capacity.slots < 1) return { finishAt, drainAt: null };
  const free: number[] = [];
  let unknown = false;
  for (const r of input.running) {
    const cost = r.cost ?? input.fallback;
    if (!cost) {
      unknown = true;
      free.push(now);
      continue;
    }
    const end = Math.max(now, r.startedAt + serviceMs(cost, capacity));
    finishAt.set(r.id, end);
    free.push(end);
  }
  free.sort((a, b) => a - b);
  // More running than slots (a capacity just lowered): the queue gets the slots that free first.
  const slots = free.slice(0, capacity.slots);
  while (slots.length < capacity.slots) slots.unshift(now);
  let drainAt = slots.length ? Math.max(now, ...slots) : now;
  for (const q of input.queued) {
    const cost = q.cost ?? input.fallback;
    if (!cost) {
      unknown = true;
      continue;
    }
    let best = 0;
    for (let i = 1; i < slots.length; i++) if (slots[i]! < slots[best]!) best = i;
    const end = slots[best]! + serviceMs(cost, capacity);
    slots[best] = end;
    finishAt.set(q.id, end);
    if (end > drainAt) drainAt = end;
  }
  return { finishAt, drainAt: unknown && finishAt.size === 0 ? null : drainAt };
}

/** Submissions per enrolled student in each bin around a deadline, taken from a past assignment. */
export interface ArrivalProfile {
  /** The past assignment it was taken from. */
  slug: string;
  title: string;
  binMs: number;
  /** Start of the first bin relative to the deadline (negative: before it). */
  startMs: number;
  perStudent: number[];
}

export interface BurstInput {
  profile: ArrivalProfile;
  students: number;
  cost: JobCost;
  capacity: Capacity;
}

export interface BurstOutcome {
  /** Submissions expected in the profile's window. */
  jobs: number;
  /** The longest a submission would wait for its result (fluid model of the queue). */
  worstWaitMs: number;
}

/**
 * A fluid model of the queue through the burst: each bin adds its expected arrivals and the
 * graders take away what they can in a bin's time; a job arriving behind a backlog waits for the
 * backlog to drain plus its own run.
 */
export function burstWait(input: BurstInput): BurstOutcome {
  const { profile, students, cost, capacity } = input;
  const service = serviceMs(cost, capacity);
  const rate = capacity.slots / service; // jobs per ms
  let backlog = 0;
  let jobs = 0;
  let worst = 0;
  for (const perStudent of profile.perStudent) {
    const arrivals = perStudent * students;
    jobs += arrivals;
    backlog += arrivals;
    if (arrivals > 0) worst = Math.max(worst, backlog / rate + service);
    backlog = Math.max(0, backlog - rate * profile.binMs);
  }
  return { jobs: Math.round(jobs), worstWaitMs: jobs > 0 ? worst : 0 };
}

/** Most slots the search for "how many would" goes up to. */
const MAX_SLOTS = 1024;

/**
 * The fewest slots (each with a core of its own, as a worker machine brings) that keep the
 * worst wait within the target; null when even a slot per submission would not (a run alone
 * takes longer than the target).
 */
export function slotsNeeded(input: Omit<BurstInput, 'capacity'>, targetMs: number): number | null {
  if (input.cost.wallMs > targetMs) return null;
  const fits = (slots: number) => burstWait({ ...input, capacity: { slots, cores: slots } }).worstWaitMs <= targetMs;
  if (!fits(MAX_SLOTS)) return null;
  let lo = 1;
  let hi = MAX_SLOTS;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** "about 3 minutes": how the estimate is said to people (rounded, never falsely precise). */
export function durationText(ms: number): string {
  if (ms < 60_000) return 'less than a minute';
  const minutes = Math.round(ms / 60_000);
  if (minutes < 90) return `about ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(ms / 360_000) / 10;
  return `about ${hours} hours`;
}

// ---- from the database ----

/** Runs looked at per estimate: recent enough to follow a changed test, enough for a median. */
const HISTORY = 50;
/** The arrival profile: from 3 hours before a deadline to 30 minutes after, in 1-minute bins. */
export const PROFILE_BEFORE_MS = 3 * 3600_000;
export const PROFILE_AFTER_MS = 30 * 60_000;
export const PROFILE_BIN_MS = 60_000;

function statements(db: Db) {
  return {
    byVersion: db.prepare<{ version: number; limit: number }, { wall: number; cpu: number | null }>(
      `SELECT r.duration_ms AS wall, r.cpu_ms AS cpu FROM jobs j JOIN results r ON r.job_id = j.id
        WHERE j.version_id = :version AND r.gradable = 1 ORDER BY j.id DESC LIMIT :limit`,
    ),
    byAssignment: db.prepare<{ assignment: number; limit: number }, { wall: number; cpu: number | null }>(
      `SELECT r.duration_ms AS wall, r.cpu_ms AS cpu FROM results r JOIN submissions s ON s.id = r.submission_id
        WHERE s.assignment_id = :assignment AND r.gradable = 1 ORDER BY r.id DESC LIMIT :limit`,
    ),
    byCourse: db.prepare<{ course: string; limit: number }, { wall: number; cpu: number | null }>(
      `SELECT r.duration_ms AS wall, r.cpu_ms AS cpu FROM results r JOIN submissions s ON s.id = r.submission_id
         JOIN assignments a ON a.id = s.assignment_id
        WHERE a.course = :course AND r.gradable = 1 ORDER BY r.id DESC LIMIT :limit`,
    ),
    anyRecent: db.prepare<{ limit: number }, { wall: number; cpu: number | null }>(
      `SELECT duration_ms AS wall, cpu_ms AS cpu FROM results WHERE gradable = 1 ORDER BY id DESC LIMIT :limit`,
    ),
    versionAssignment: db.prepare<{ version: number }, { assignment_id: number }>('SELECT assignment_id FROM assignment_versions WHERE id = :version'),
    queued: db.prepare<[], { id: number; version_id: number }>(`SELECT id, version_id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, id`),
    running: db.prepare<[], { id: number; version_id: number; started_at: number | null }>(`SELECT id, version_id, started_at FROM jobs WHERE state = 'running'`),
  };
}
const sql = preparedFor(statements);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

function costOf(rows: Array<{ wall: number; cpu: number | null }>): JobCost | null {
  if (!rows.length) return null;
  // Runs recorded before CPU time was kept count as CPU-bound: the cautious guess.
  return { wallMs: median(rows.map((r) => r.wall)), cpuMs: median(rows.map((r) => r.cpu ?? r.wall)) };
}

export function versionCost(db: Db, versionId: number): JobCost | null {
  const s = sql(db);
  const own = costOf(s.byVersion.all({ version: versionId, limit: HISTORY }));
  if (own) return own;
  const a = s.versionAssignment.get({ version: versionId });
  return a ? assignmentCost(db, a.assignment_id) : null;
}

export function assignmentCost(db: Db, assignmentId: number): JobCost | null {
  return costOf(sql(db).byAssignment.all({ assignment: assignmentId, limit: HISTORY }));
}

export function courseCost(db: Db, course: string): JobCost | null {
  return costOf(sql(db).byCourse.all({ course, limit: HISTORY }));
}

/** The graders available now: local slots on this machine's cores, or the live Redis workers. */
export function gradingCapacity(deps: Pick<Deps, 'db' | 'clock' | 'config' | 'services'>): Capacity {
  if (deps.config.queue !== 'sqlite') {
    const slots = listWorkers(deps)
      .filter((w) => w.alive)
      .reduce((n, w) => n + w.concurrency, 0);
    // A worker runs as many jobs at once as it was told, normally its cores.
    return { slots, cores: slots };
  }
  return { slots: deps.config.graders, cores: Math.min(deps.config.graders, availableParallelism()) || 1 };
}

/** The queue as it stands, planned. Kept for a second while the database is unchanged: live pages ask often. */
export function currentPlan(deps: Pick<Deps, 'db' | 'clock' | 'config' | 'services'>): QueuePlan {
  const grading = deps.services.grading;
  const now = deps.clock.now();
  const version = readCache(deps.db).check();
  const second = Math.floor(now / 1000);
  const kept = grading.forecastCache;
  if (kept && kept.version === version && kept.second === second) return kept.plan as QueuePlan;
  const s = sql(deps.db);
  const costs = new Map<number, JobCost | null>();
  const cost = (v: number) => {
    if (!costs.has(v)) costs.set(v, versionCost(deps.db, v));
    return costs.get(v)!;
  };
  const plan = planQueue({
    now,
    capacity: gradingCapacity(deps),
    running: s.running.all().map((r) => ({ id: r.id, startedAt: r.started_at ?? now, cost: cost(r.version_id) })),
    queued: s.queued.all().map((q) => ({ id: q.id, cost: cost(q.version_id) })),
    fallback: costOf(s.anyRecent.all({ limit: HISTORY })),
  });
  grading.forecastCache = { version, second, plan };
  return plan;
}

/** Milliseconds from now until this job's result is expected; null without an estimate. */
export function jobEta(deps: Pick<Deps, 'db' | 'clock' | 'config' | 'services'>, jobId: number | null): number | null {
  if (jobId === null) return null;
  const at = currentPlan(deps).finishAt.get(jobId);
  return at === undefined ? null : Math.max(0, at - deps.clock.now());
}

/** The busiest past deadline of the course: the one with the most submissions per student in its last hour. */
export function busiestProfile(deps: Pick<Deps, 'services'>, past: Array<{ id: number; slug: string; title: string }>, students: number): ArrivalProfile | null {
  if (students < 1) return null;
  let best: { profile: ArrivalProfile; lastHour: number } | null = null;
  const bins = Math.ceil((PROFILE_BEFORE_MS + PROFILE_AFTER_MS) / PROFILE_BIN_MS);
  for (const a of past) {
    const counts = new Array<number>(bins).fill(0);
    const arrivals = deps.services.submissions.arrivalBins(a.id, PROFILE_BEFORE_MS, PROFILE_AFTER_MS, PROFILE_BIN_MS);
    for (const { bin, n } of arrivals.bins) counts[Math.min(bins - 1, bin)]! += n;
    const lastHour = arrivals.lastHour;
    if (lastHour === 0 || (best && best.lastHour >= lastHour)) continue;
    best = { lastHour, profile: { slug: a.slug, title: a.title, binMs: PROFILE_BIN_MS, startMs: -PROFILE_BEFORE_MS, perStudent: counts.map((c) => c / students) } };
  }
  return best?.profile ?? null;
}

export interface DeadlineForecast {
  slug: string;
  title: string;
  deadlineAt: number;
  /** The past deadline whose submission timing is assumed. */
  basedOn: { slug: string; title: string };
  expectedSubmissions: number;
  runMs: number;
  worstWaitMs: number;
  targetMs: number;
  ok: boolean;
  slots: number;
  /** Slots (one core each) that would keep the worst wait within the target; null when none would. */
  slotsNeeded: number | null;
}

/** Forecasts for a course's coming deadlines (within `horizonMs`), from its past ones. */
export function deadlineForecasts(
  deps: Pick<Deps, 'db' | 'clock' | 'config' | 'services'>,
  input: { course: string; students: number; assignments: Array<{ id: number; slug: string; title: string; deadlineAt: number }>; horizonMs: number; targetMs: number },
): DeadlineForecast[] {
  const now = deps.clock.now();
  const past = input.assignments.filter((a) => a.deadlineAt + PROFILE_AFTER_MS <= now);
  const coming = input.assignments.filter((a) => a.deadlineAt > now && a.deadlineAt - now <= input.horizonMs);
  if (!coming.length) return [];
  const profile = busiestProfile(deps, past, input.students);
  if (!profile) return [];
  const capacity = gradingCapacity(deps);
  const fallback = courseCost(deps.db, input.course);
  const out: DeadlineForecast[] = [];
  for (const a of coming) {
    const cost = assignmentCost(deps.db, a.id) ?? fallback;
    if (!cost) continue;
    const burst = { profile, students: input.students, cost };
    const outcome = capacity.slots > 0 ? burstWait({ ...burst, capacity }) : { jobs: burstWait({ ...burst, capacity: { slots: 1, cores: 1 } }).jobs, worstWaitMs: Infinity };
    out.push({
      slug: a.slug,
      title: a.title,
      deadlineAt: a.deadlineAt,
      basedOn: { slug: profile.slug, title: profile.title },
      expectedSubmissions: outcome.jobs,
      runMs: cost.wallMs,
      worstWaitMs: outcome.worstWaitMs,
      targetMs: input.targetMs,
      ok: outcome.worstWaitMs <= input.targetMs,
      slots: capacity.slots,
      slotsNeeded: slotsNeeded(burst, input.targetMs),
    });
  }
  return out;
}

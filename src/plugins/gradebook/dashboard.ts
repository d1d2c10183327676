import { diskSpace } from '../../lib/unavailable.js';
import type { Course } from '../../lib/content.js';
import type { Deps } from '../../plugin.js';
import { findUserById, listEnrolled } from '../accounts/users.js';
import { listAssignments } from '../assignments/store.js';
import { findVariant, listGeneratorRuns } from '../assignments/variants.js';
import { currentPlan, deadlineForecasts, durationText } from '../autotest/forecast.js';
import { listWorkers } from '../autotest/redis-store.js';
import { runsNeedingAttention } from '../autotest/store.js';
import { selfCheckWarnings, waitingVersions } from '../autotest/self-check-store.js';
import { openRegradesInCourse } from '../review/store.js';
import { submissionCounts } from '../submissions/store.js';
import { assignmentState, when } from './format.js';

/** Coming deadlines the dashboard forecasts. */
const FORECAST_HORIZON_MS = 14 * 86_400_000;

export type DashboardData = Awaited<ReturnType<typeof dashboardData>>;

/**
 * What the course dashboard shows (and answers as JSON): each assignment's standing and
 * submissions, the grading queue and its forecast for coming deadlines, the graders, the sandbox,
 * failed variant generators, runs needing attention, the data disk, self-checks and open regrade
 * requests.
 */
export async function dashboardData(deps: Pick<Deps, 'db' | 'clock' | 'config' | 'services' | 'sandbox'>, course: Course) {
  const grading = deps.services.grading;
  const now = deps.clock.now();
  const enrolled = listEnrolled(deps.db, course.slug, 'student').length;
  const current = listAssignments(deps.db, course.slug);
  const generatorFailures: Array<{ slug: string; title: string; who: string; message: string; at: string; version: number }> = [];
  const assignments = current.map(({ assignment, version }) => {
    const counts = submissionCounts(deps.db, assignment.id);
    const state = assignmentState(version.config, now);
    // A failed generator run matters while that student still has no variant (looked up for
    // those few students only: listing every variant costs a page at 1,000 students).
    const seen = new Set<number>();
    for (const r of listGeneratorRuns(deps.db, assignment.id, 50)) {
      if (r.outcome !== 'failed' || r.userId === null || seen.has(r.userId) || findVariant(deps.db, assignment.id, r.userId)) continue;
      seen.add(r.userId);
      generatorFailures.push({ slug: assignment.slug, title: version.config.title, who: r.userName ?? `user ${r.userId}`, message: r.message, at: when(r.createdAt, course), version: r.versionNumber });
    }
    return {
      slug: assignment.slug,
      title: version.config.title,
      state: state.state,
      stateText: state.text,
      opens: when(version.config.opensAt, course),
      deadline: when(version.config.deadlineAt, course),
      version: version.number,
      submissions: counts.submissions,
      students: counts.students,
      lastSubmission: counts.last === null ? '' : when(counts.last, course),
    };
  });
  const names = new Map<number, string>();
  const nameOf = (id: number) => {
    if (!names.has(id)) names.set(id, findUserById(deps.db, id)?.name ?? `user ${id}`);
    return names.get(id)!;
  };
  const selfChecks = selfCheckWarnings(deps.db, course.slug);
  const attention = runsNeedingAttention(deps.db, course.slug, 30).map((a) => ({ ...a, who: nameOf(a.userId), when: a.at === null ? '' : when(a.at, course), problem: (a.problem ?? '').split('\n')[0]!.slice(0, 200) }));
  const stats = grading.queue.stats();
  const dispatcher = grading.dispatcher()?.describe() ?? null;
  const drainAt = currentPlan(deps).drainAt;
  const forecast = deadlineForecasts(deps, {
    course: course.slug,
    students: enrolled,
    assignments: current.map(({ assignment, version }) => ({ id: assignment.id, slug: assignment.slug, title: version.config.title, deadlineAt: version.config.deadlineAt })),
    horizonMs: FORECAST_HORIZON_MS,
    targetMs: deps.config.forecastTargetMinutes * 60_000,
  }).map((f) => ({ ...f, deadline: when(f.deadlineAt, course), worstWait: Number.isFinite(f.worstWaitMs) ? durationText(f.worstWaitMs) : null, target: durationText(f.targetMs), run: durationText(f.runMs) }));
  return {
    course: { slug: course.slug, title: course.title, timezone: course.timezone },
    enrolled,
    assignments,
    queue: {
      queued: stats.queued,
      running: stats.running,
      oldestQueuedAt: stats.oldestQueuedAt,
      oldestAgeMs: stats.oldestQueuedAt === null ? null : now - stats.oldestQueuedAt,
      drainMs: drainAt === null || stats.queued + stats.running === 0 ? null : Math.max(0, drainAt - now),
    },
    forecast,
    grading: dispatcher,
    workers: listWorkers(deps).map((w) => ({ host: w.host, id: w.id, pid: w.pid, concurrency: w.concurrency, running: w.running, jobsDone: w.jobsDone, lastSeen: w.lastSeen, lastSeenText: when(w.lastSeen, course), alive: w.alive })),
    unsafeSandbox: deps.sandbox.unsafe,
    sandbox: deps.sandbox.describe(),
    generatorFailures,
    attention,
    disk: await diskLine(deps.config.dataDir, deps.config.diskReserveMb),
    selfChecks,
    waitingVersions: waitingVersions(deps.db, course.slug),
    regrades: openRegradesInCourse(deps.db, course.slug, 50).map((r) => ({ id: r.id, slug: r.slug, number: r.number, student: r.student, subject: r.subject, at: r.createdAt })),
  };
}

/** The data disk's free space for the dashboard; null when it cannot be read. */
async function diskLine(dataDir: string, reserveMb: number): Promise<{ free: string; reserve: string; low: boolean; freeBytes: number } | null> {
  try {
    const d = await diskSpace(dataDir, reserveMb);
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;
    return { free: mb(d.freeBytes), reserve: mb(d.reserveBytes), low: d.low, freeBytes: d.freeBytes };
  } catch {
    return null;
  }
}

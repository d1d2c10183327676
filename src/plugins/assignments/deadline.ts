import type { AssignmentConfig } from './config.js';

const MINUTE = 60_000;
const DAY = 86_400_000;

export type Timing =
  | { state: 'not_open'; opensAt: number }
  | { state: 'closed'; closedAt: number }
  | { state: 'on_time' | 'grace' | 'late'; deadlineAt: number; lateMinutes: number; penaltyPct: number; hardCloseAt: number };

export interface DeadlineRules {
  opensAt: number | null;
  deadlineAt: number;
  graceMs: number;
  penaltyPerDay: number;
  cap: number;
  hardCloseAt: number;
}

export function rulesOf(config: AssignmentConfig): DeadlineRules {
  return {
    opensAt: config.opensAt,
    deadlineAt: config.deadlineAt,
    graceMs: config.graceMs,
    penaltyPerDay: config.late.penaltyPerDay,
    cap: config.late.cap,
    hardCloseAt: config.late.hardCloseAt,
  };
}

/**
 * Where a submission made at `at` falls. An extension moves the student's deadline and shifts the
 * whole late window with it (grace, penalty days, hard close), so an extended student is treated
 * exactly like everyone else relative to their own deadline. Late minutes count from the deadline;
 * the penalty counts started days after deadline + grace, capped.
 */
export function timing(rules: DeadlineRules, at: number, extensionUntil: number | null = null): Timing {
  if (rules.opensAt !== null && at < rules.opensAt) return { state: 'not_open', opensAt: rules.opensAt };
  const shift = extensionUntil !== null && extensionUntil > rules.deadlineAt ? extensionUntil - rules.deadlineAt : 0;
  const deadlineAt = rules.deadlineAt + shift;
  const hardCloseAt = rules.hardCloseAt + shift;
  if (at > hardCloseAt) return { state: 'closed', closedAt: hardCloseAt };
  if (at <= deadlineAt) return { state: 'on_time', deadlineAt, lateMinutes: 0, penaltyPct: 0, hardCloseAt };
  const lateMinutes = Math.ceil((at - deadlineAt) / MINUTE);
  const graceEnd = deadlineAt + rules.graceMs;
  if (at <= graceEnd) return { state: 'grace', deadlineAt, lateMinutes, penaltyPct: 0, hardCloseAt };
  const days = Math.ceil((at - graceEnd) / DAY);
  const penaltyPct = Math.min(rules.cap, days * rules.penaltyPerDay);
  return { state: 'late', deadlineAt, lateMinutes, penaltyPct, hardCloseAt };
}

/** The score after the late penalty, rounded to 0.001. */
export function penalised(score: number, penaltyPct: number): number {
  return Math.round(score * (1 - penaltyPct / 100) * 1000) / 1000;
}

/** Where an assignment stands for the whole class (no extension): what lists, dashboards and staff pages show. */
export type Standing = 'upcoming' | 'open' | 'grace' | 'late' | 'closed';

/** The one rule for an assignment's standing: timing() without an extension, named for pages. */
export function standing(config: AssignmentConfig, now: number): Standing {
  const t = timing(rulesOf(config), now);
  return t.state === 'not_open' ? 'upcoming' : t.state === 'on_time' ? 'open' : t.state;
}

import { describe, expect, it } from 'vitest';
import { penalised, timing, type DeadlineRules } from '../../src/plugins/assignments/deadline.js';

const H = 3_600_000;
const D = 24 * H;
const deadline = Date.parse('2026-10-15T23:59:00+02:00');
const rules: DeadlineRules = {
  opensAt: Date.parse('2026-10-01T08:00:00+02:00'),
  deadlineAt: deadline,
  graceMs: 15 * 60_000,
  penaltyPerDay: 10,
  cap: 30,
  hardCloseAt: deadline + 15 * 60_000 + 7 * D,
};

describe('late-penalty arithmetic', () => {
  it('refuses before opening and after the hard close', () => {
    expect(timing(rules, rules.opensAt! - 1)).toEqual({ state: 'not_open', opensAt: rules.opensAt });
    expect(timing(rules, rules.hardCloseAt + 1)).toEqual({ state: 'closed', closedAt: rules.hardCloseAt });
    expect(timing(rules, rules.hardCloseAt).state).toBe('late');
  });

  it('is on time up to and including the deadline', () => {
    expect(timing(rules, rules.opensAt!)).toMatchObject({ state: 'on_time', penaltyPct: 0, lateMinutes: 0 });
    expect(timing(rules, deadline)).toMatchObject({ state: 'on_time', penaltyPct: 0, lateMinutes: 0 });
  });

  it('counts late minutes in the grace period but no penalty', () => {
    expect(timing(rules, deadline + 1)).toMatchObject({ state: 'grace', lateMinutes: 1, penaltyPct: 0 });
    expect(timing(rules, deadline + 15 * 60_000)).toMatchObject({ state: 'grace', lateMinutes: 15, penaltyPct: 0 });
  });

  it('takes the penalty per started day after the grace, up to the cap', () => {
    const graceEnd = deadline + 15 * 60_000;
    expect(timing(rules, graceEnd + 1)).toMatchObject({ state: 'late', lateMinutes: 16, penaltyPct: 10 });
    expect(timing(rules, graceEnd + D)).toMatchObject({ penaltyPct: 10 });
    expect(timing(rules, graceEnd + D + 1)).toMatchObject({ penaltyPct: 20 });
    expect(timing(rules, graceEnd + 2 * D + 1)).toMatchObject({ penaltyPct: 30 });
    expect(timing(rules, graceEnd + 5 * D)).toMatchObject({ penaltyPct: 30 });
  });

  it('an extension moves the deadline and the whole late window', () => {
    const ext = deadline + 3 * D;
    expect(timing(rules, deadline + 2 * D, ext)).toMatchObject({ state: 'on_time', penaltyPct: 0, deadlineAt: ext });
    expect(timing(rules, ext + 10 * 60_000, ext)).toMatchObject({ state: 'grace', lateMinutes: 10 });
    expect(timing(rules, ext + 15 * 60_000 + 1, ext)).toMatchObject({ state: 'late', penaltyPct: 10 });
    expect(timing(rules, rules.hardCloseAt + 1, ext).state).toBe('late');
    expect(timing(rules, rules.hardCloseAt + 3 * D + 1, ext).state).toBe('closed');
  });

  it('an extension earlier than the deadline changes nothing', () => {
    expect(timing(rules, deadline + 1, deadline - D)).toMatchObject({ state: 'grace' });
  });

  it('no late policy: closed right after deadline + grace', () => {
    const strict: DeadlineRules = { ...rules, penaltyPerDay: 0, cap: 0, hardCloseAt: deadline + 15 * 60_000 };
    expect(timing(strict, deadline + 15 * 60_000).state).toBe('grace');
    expect(timing(strict, deadline + 15 * 60_000 + 1).state).toBe('closed');
  });

  it('applies the penalty to a score', () => {
    expect(penalised(8, 0)).toBe(8);
    expect(penalised(8, 30)).toBe(5.6);
    expect(penalised(7, 10)).toBe(6.3);
  });
});

/** Domain code asks the clock, never Date.now(), so tests can fix and move time. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface FixedClock extends Clock {
  set(ms: number | string | Date): void;
  advance(ms: number): void;
}

export function fixedClock(start: number | string | Date = '2026-10-01T09:00:00Z'): FixedClock {
  let t = new Date(start).getTime();
  return {
    now: () => t,
    set: (v) => {
      t = new Date(v).getTime();
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

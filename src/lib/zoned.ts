/**
 * Staff type a wall-clock time in the course's time zone ("2026-10-20 23:59", 24-hour, or the
 * "T" form a datetime-local input sends). The form is a text field rather than the browser's
 * picker, whose format follows the browser's locale while every page shows the course's times.
 * These convert between such a wall-clock text and an instant, with Intl only.
 */
const LOCAL = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

function wallClock(ms: number, timeZone: string): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { y: parts.year!, mo: parts.month!, d: parts.day!, h: parts.hour!, mi: parts.minute!, s: parts.second! };
}

/** The zone's offset from UTC at an instant, in ms (positive east of Greenwich). */
function offsetAt(ms: number, timeZone: string): number {
  const w = wallClock(ms, timeZone);
  const asUtc = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
  return asUtc - (ms - (((ms % 1000) + 1000) % 1000));
}

/**
 * "2026-10-20T23:59" in `timeZone` -> epoch ms; null when the text is not such a time.
 * A time skipped by a daylight-saving change moves forward by the change; a time that occurs
 * twice (clocks go back) is taken at its later occurrence.
 */
export function zonedToInstant(local: string, timeZone: string): number | null {
  const m = LOCAL.exec(local.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null;
  const guess = Date.UTC(y, mo - 1, d, h, mi, s);
  // Date.UTC rolls 31 February over into March: refuse dates that do not exist.
  const check = new Date(guess);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return null;
  const first = guess - offsetAt(guess, timeZone);
  const second = offsetAt(first, timeZone);
  return guess - second;
}

/** Epoch ms -> "2026-10-20T23:59" in `timeZone` (`separator` " " for the text a person types). */
export function instantToZoned(ms: number, timeZone: string, separator: 'T' | ' ' = 'T'): string {
  const w = wallClock(ms, timeZone);
  const p = (n: number, len = 2) => String(n).padStart(len, '0');
  return `${p(w.y, 4)}-${p(w.mo)}-${p(w.d)}${separator}${p(w.h)}:${p(w.mi)}`;
}

import { z } from 'zod';

/** Durations, sizes and instants as assignment.yaml writes them, and as pages describe them. */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
export const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)$/i;
const SIZE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)$/i;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };
const UNIT_BYTES: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** "15m", "2h", "90s", "1d"; a bare number is in `bareUnit`. */
export function parseDuration(value: string | number, bareUnit: 'ms' | 's' | 'm'): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * UNIT_MS[bareUnit]! : null;
  const m = DURATION.exec(value.trim());
  if (!m) return /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) * UNIT_MS[bareUnit]! : null;
  return Number(m[1]) * UNIT_MS[m[2]!.toLowerCase()]!;
}

/** "512MB", "64 KiB", "1G"; a bare number is bytes. Binary units. */
export function parseSize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : null;
  const m = SIZE.exec(value.trim());
  if (!m) return /^\d+$/.test(value.trim()) ? Number(value) : null;
  return Math.floor(Number(m[1]) * UNIT_BYTES[m[2]!.toLowerCase()]!);
}

export function parseInstant(value: string): number | null {
  if (!ISO_WITH_OFFSET.test(value)) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

export const instant = z
  .string({ error: 'must be a date and time like 2026-10-15T23:59:00+02:00' })
  .refine((v) => ISO_WITH_OFFSET.test(v), 'must be ISO 8601 with a time-zone offset, like 2026-10-15T23:59:00+02:00')
  .refine((v) => !ISO_WITH_OFFSET.test(v) || !Number.isNaN(Date.parse(v)), 'is not a real date and time');

export function duration(bareUnit: 'ms' | 's' | 'm', max: number, example: string) {
  const unitName = { ms: 'milliseconds', s: 'seconds', m: 'minutes' }[bareUnit];
  return z
    .union([z.string(), z.number()], { error: `must be a duration like "${example}" (a bare number is ${unitName})` })
    .transform((v, ctx) => {
      const ms = parseDuration(v, bareUnit);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `must be a duration like "${example}" (a bare number is ${unitName})` });
        return z.NEVER;
      }
      if (ms > max) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${describeMs(max)}` });
        return z.NEVER;
      }
      return ms;
    });
}

export function size(max: number, example: string, min = 1) {
  return z
    .union([z.string(), z.number()], { error: `must be a size like "${example}" (a bare number is bytes)` })
    .transform((v, ctx) => {
      const bytes = parseSize(v);
      if (bytes === null) {
        ctx.addIssue({ code: 'custom', message: `must be a size like "${example}" (a bare number is bytes)` });
        return z.NEVER;
      }
      if (bytes > max || bytes < min) {
        ctx.addIssue({ code: 'custom', message: `must be between ${describeBytes(min)} and ${describeBytes(max)}` });
        return z.NEVER;
      }
      return bytes;
    });
}

export function describeMs(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

export function describeBytes(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3} GB`;
  if (n >= 1024 ** 2 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2} MB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KB`;
  return `${n} bytes`;
}

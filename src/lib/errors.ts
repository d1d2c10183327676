/**
 * An error whose message is meant for the person who caused it. Anything else that escapes
 * a handler is a bug: logged with its stack and shown as a generic 500.
 */
export class UserError extends Error {
  readonly status: number;
  readonly expose = true;
  /** Extra machine-readable details for API clients (e.g. a list of problems). */
  readonly details: unknown;
  constructor(status: number, message: string, details?: unknown) {
    super(message);
    this.name = 'UserError';
    this.status = status;
    this.details = details;
  }
}

export function isUserFacing(err: unknown): err is { status: number; message: string; expose: true; details?: unknown } {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { status?: unknown; expose?: unknown };
  return typeof e.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true;
}

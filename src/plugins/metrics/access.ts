import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isLoopback } from '../../lib/net.js';

/**
 * Who may read /metrics: a peer on this machine's loopback (a Prometheus on the same box), or
 * anyone presenting the configured bearer token. Behind a proxy every peer is loopback, so then
 * only the token opens it. The figures are not secret in the way grades are, but course and
 * assignment names, queue lengths and request rates are nobody else's business.
 */
export type MetricsRefusal = { status: 401 | 403; message: string };

function sameToken(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function metricsRefusal(req: IncomingMessage, options: { token: string; proxy: boolean }): MetricsRefusal | null {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!options.token) return { status: 403, message: 'No metrics token is configured on this server (LECTERN_METRICS_TOKEN); metrics are open to loopback only.' };
    if (!m || !sameToken(m[1]!, options.token)) return { status: 401, message: 'The metrics token is wrong.' };
    return null;
  }
  // The TCP peer only: ctx.ip and forwarding headers are the client's say-so.
  if (!options.proxy && isLoopback(req.socket.remoteAddress)) return null;
  return {
    status: 403,
    message: options.proxy
      ? 'Metrics behind a proxy need the token: send Authorization: Bearer <LECTERN_METRICS_TOKEN>.'
      : 'Metrics are open to loopback only, or with Authorization: Bearer <LECTERN_METRICS_TOKEN>.',
  };
}

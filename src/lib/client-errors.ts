/**
 * What clients do to a connection that is not the server's fault: hang up mid-request, send
 * something that is not HTTP, trickle too slowly, open too many connections. Each is logged at
 * debug (anyone can cause them, so they must not flood the error log) and counted here, the one
 * place a metrics exporter reads them from (`app.clientErrors`).
 */
export type ClientErrorKind = 'aborted' | 'malformed' | 'timeout' | 'refused';

export class ClientErrorCounter {
  readonly counts: Record<ClientErrorKind, number> = { aborted: 0, malformed: 0, timeout: 0, refused: 0 };
  add(kind: ClientErrorKind): void {
    this.counts[kind] += 1;
  }
}

const ABORT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/** Whether an error was caused by the client's connection rather than by the server, and how. */
export function classifyClientError(err: unknown): ClientErrorKind | null {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return null;
  const code = typeof e.code === 'string' ? e.code : '';
  // HPE_INVALID_EOF_STATE: the connection ended in the middle of a request.
  if (ABORT_CODES.has(code) || code === 'HPE_INVALID_EOF_STATE' || e.message === 'aborted' || e.message === 'request aborted') return 'aborted';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ETIMEDOUT') return 'timeout';
  if (code.startsWith('HPE_')) return 'malformed';
  return null;
}

import http, { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config.js';
import type { Logger } from './logger.js';
import { addressKey, isLoopback } from './net.js';
import { classifyClientError, type ClientErrorCounter } from './client-errors.js';

/** What the HTTP server needs of the app it serves (src/app.ts's LecternApp is one). */
export interface ServedApp {
  deps: { config: Pick<Config, 'headersTimeoutMs' | 'maxConnectionsPerAddress' | 'proxy'>; log: Logger };
  /** The request listener. */
  callback(): http.RequestListener;
  /** Lets the app's close() drain this server's connections. */
  attach(server: http.Server): void;
  /** Where refused and malformed connections are counted. */
  readonly clientErrors: ClientErrorCounter;
}

/**
 * The HTTP server's limits, chosen rather than inherited:
 * - headers must be complete within `headersTimeoutMs` (a client trickling header bytes to hold
 *   a connection open is cut off; Node checks every `connectionsCheckingInterval`);
 * - no limit on a whole request's duration (`requestTimeout: 0`): a large upload on a slow link
 *   takes as long as it takes, as long as it keeps moving; a body that stalls for `bodyIdleMs` is
 *   cut off (see bodyIdleGuard in app.ts);
 * - idle keep-alive connections close after 5 s;
 * - at most `maxConnectionsPerAddress` open connections per client address (IPv6: per /64).
 *   Behind a proxy every peer is the proxy on loopback, so the cap is the proxy's job there.
 */
export function createHttpServer(app: ServedApp): http.Server {
  const { config, log } = app.deps;
  const server = http.createServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: 0,
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: Math.min(5_000, Math.max(250, Math.floor(config.headersTimeoutMs / 4))),
    },
    app.callback(),
  );
  app.attach(server);

  const open = new Map<string, number>();
  const cap = config.maxConnectionsPerAddress;
  server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress ?? '';
    if (cap === 0 || (config.proxy && isLoopback(peer))) return;
    const key = addressKey(peer);
    const n = (open.get(key) ?? 0) + 1;
    open.set(key, n);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left <= 0) open.delete(key);
      else open.set(key, left);
    });
    if (n > cap) {
      app.clientErrors.add('refused');
      log.debug({ peer: key, open: n - 1 }, 'connection refused: too many from one address');
      socket.destroy();
    }
  });

  // Not HTTP, or headers too slow or too large: answer what Node would, without an error log line.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const kind = classifyClientError(err) ?? 'malformed';
    // A hang-up during a request the app is already handling is counted there, once.
    const inFlight = (socket as Socket & { _httpMessage?: unknown })._httpMessage;
    if (!(kind === 'aborted' && inFlight)) app.clientErrors.add(kind);
    log.debug({ code: err.code, peer: socket.remoteAddress }, 'bad request on the connection');
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  return server;
}

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
 *   One address is often a whole lecture hall behind a campus NAT, so reaching the cap first
 *   closes that address's idle keep-alive connections (a browser opens a new one unnoticed), and a
 *   connection still over the cap gets a 503 with Retry-After it can show, not a reset. Only a
 *   flood far past the cap is cut without an answer, so that refusing costs nothing.
 */
export function createHttpServer(app: ServedApp): http.Server {
  const { config, log } = app.deps;
  /** Open connections per address key, oldest first (a Set keeps insertion order). */
  const open = new Map<string, Set<Socket>>();
  /** Sockets that have been answered at least once: idle between requests when no response is in progress. */
  const served = new WeakSet<Socket>();
  /** Over the cap: answered 503 on their first request, then closed. */
  const overCap = new WeakSet<Socket>();

  const server = http.createServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: 0,
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: Math.min(5_000, Math.max(250, Math.floor(config.headersTimeoutMs / 4))),
    },
    refuseOverCap(app.callback(), served, overCap),
  );
  app.attach(server);

  const cap = config.maxConnectionsPerAddress;
  const idle = (socket: Socket) => served.has(socket) && !(socket as Socket & { _httpMessage?: unknown })._httpMessage;
  server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress ?? '';
    if (cap === 0 || (config.proxy && isLoopback(peer))) return;
    const key = addressKey(peer);
    let sockets = open.get(key);
    if (!sockets) open.set(key, (sockets = new Set()));
    const mine = sockets;
    mine.add(socket);
    socket.once('close', () => {
      mine.delete(socket);
      if (mine.size === 0 && open.get(key) === mine) open.delete(key);
    });
    if (mine.size <= cap) return;
    for (const other of mine) {
      if (mine.size <= cap) break;
      if (other !== socket && idle(other)) {
        mine.delete(other);
        other.destroy();
      }
    }
    if (mine.size <= cap) return;
    app.clientErrors.add('refused');
    log.debug({ peer: key, open: mine.size - 1 }, 'connection refused: too many from one address');
    if (mine.size > cap + OVER_CAP_ANSWERED) {
      socket.destroy();
      return;
    }
    overCap.add(socket);
    // It gets a moment to send its request and read the answer, not the whole headers timeout.
    socket.setTimeout(OVER_CAP_WAIT_MS, () => socket.destroy());
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

/** Connections past the cap that still get a 503 answer; beyond that they are cut at once. */
const OVER_CAP_ANSWERED = 64;
/** How long a connection over the cap may take to send its request before it is cut. */
const OVER_CAP_WAIT_MS = 2_000;

/**
 * The request listener: marks the connection as answered once (so it may be closed when idle to
 * make room), and answers one over the cap with a 503. One listener, not a second 'request'
 * listener: Node copies a listener list on every emit.
 */
function refuseOverCap(handler: http.RequestListener, served: WeakSet<Socket>, overCap: WeakSet<Socket>): http.RequestListener {
  return (req, res) => {
    served.add(req.socket);
    if (!overCap.has(req.socket)) {
      handler(req, res);
      return;
    }
    const body = 'Too many connections from your network address right now; please try again in a few seconds.\n';
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5', connection: 'close', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

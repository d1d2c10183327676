import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../lib/errors.js';
import type { AppContext, AppMiddleware, Deps, Plugin } from '../../plugin.js';
import { isLoopback } from '../../lib/net.js';

export const TOKEN_FILE = 'restart.token';
export const TOKEN_HEADER = 'x-restart-token';
/** The shutdown reason of /restart: the CLI hands over to its respawn loop only for this one. */
export const RESTART_REASON = 'restart requested';

/**
 * The restart token of this app, offered as the `restart` service: the web workers of a cluster
 * (src/cluster.ts) do not run start(), so they take the token their primary wrote, and a server
 * has one token however many processes serve it.
 */
export interface RestartService {
  /** The file the token is written to (beside the database). */
  readonly tokenFile: string;
  /** Answers /restart with this token from now on. */
  useToken(token: string): void;
  /** Reads the token another process of this server wrote (the cluster's primary) and uses it. */
  adoptWrittenToken(): Promise<void>;
}

declare module '../../plugin.js' {
  interface Services {
    restart: RestartService;
  }
}

export function tokenPath(dataDir: string): string {
  return path.join(dataDir, TOKEN_FILE);
}

/**
 * Written beside the database with a temporary name and renamed into place, so that a hook
 * reading it never sees half a token. 0640: the deploy user reads it through the group.
 */
async function writeToken(dataDir: string, token: string): Promise<void> {
  const final = tokenPath(dataDir);
  const temp = `${final}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, `${token}\n`, { mode: 0o640, flag: 'wx' });
    // The umask may have taken the group bit away; the deploy hook depends on it.
    await chmod(temp, 0o640);
    await rename(temp, final);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** Hashing first gives equal lengths, so the comparison time says nothing about the token. */
function sameToken(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

type Refusal = 'not loopback' | 'token required' | 'token mismatch' | 'token not ready';

function refusal(ctx: AppContext, deps: Deps, token: string | null): Refusal | null {
  // The TCP peer only: ctx.ip, X-Forwarded-For, X-Real-IP, Forwarded and Host are all the client's say-so.
  if (!isLoopback(ctx.req.socket.remoteAddress)) return 'not loopback';
  const header = ctx.req.headers[TOKEN_HEADER];
  const given = Array.isArray(header) ? header[0] : header;
  if (given === undefined) return deps.config.proxy || deps.config.restartTokenAlways ? 'token required' : null;
  if (token === null) return 'token not ready';
  return sameToken(given.trim(), token) ? null : 'token mismatch';
}

/**
 * GET|POST /restart: the deploy hook's way to make this process drain and exit so that the outer
 * loop (webservice or systemd) starts the new code.
 *
 * A middleware, not a declared route, on purpose: plugin middleware runs before any route, and
 * this plugin is first in the registry, so /restart is answered ahead of the accounts plugin's
 * sessions and CSRF check, which are for browsers (the hook is not one: a route would meet the CSRF
 * check on its POST and a session lookup on every call). The answer for every other method is
 * the 405 it has always been.
 */
const restart: Plugin = {
  name: 'restart',
  create(deps) {
    /** This app's token (null until start() wrote it, or a cluster worker took its primary's). */
    let token: string | null = null;
    let restarting = false;
    const tokenFile = tokenPath(deps.config.dataDir);
    const service: RestartService = {
      tokenFile,
      useToken(value) {
        token = value;
      },
      async adoptWrittenToken() {
        token = (await readFile(tokenFile, 'utf8')).trim();
      },
    };
    const answer: AppMiddleware = async (ctx, next) => {
      if (ctx.path !== '/restart') return next();
      if (ctx.method !== 'GET' && ctx.method !== 'POST') {
        ctx.set('Allow', 'GET, POST');
        throw new UserError(405, 'Use GET or POST for /restart.');
      }
      const peer = ctx.req.socket.remoteAddress ?? 'unknown';
      const refused = refusal(ctx, deps, token);
      if (refused) {
        ctx.state.log.warn({ peer, reason: refused }, 'restart refused');
        // One message for every refusal: which check failed is for the log, not the caller.
        throw new UserError(403, 'Not allowed to restart this server.');
      }
      ctx.set('Cache-Control', 'no-store');
      ctx.set('Connection', 'close');
      ctx.status = 202;
      ctx.type = 'text/plain';
      ctx.body = 'restarting\n';
      if (restarting) {
        ctx.state.log.info({ peer }, 'restart requested again: already under way');
        return;
      }
      restarting = true;
      ctx.state.log.info({ peer }, 'restart requested');
      // At once, before the answer: the drain stops accepting first and then waits for the
      // requests in flight, this one included. So by the time the hook reads 202, every new
      // connection waits for (or, under deploy/webservice, is already taken by) the next server.
      deps.shutdown(RESTART_REASON);
    };
    return {
      provides: { restart: service },
      middleware: [answer],
      answers: [
        { method: 'GET', path: '/restart', access: 'loopback, or the restart token' },
        { method: 'POST', path: '/restart', access: 'loopback, or the restart token' },
      ],
      async start() {
        const fresh = randomBytes(32).toString('hex');
        await writeToken(deps.config.dataDir, fresh);
        token = fresh;
        deps.log.info({ file: tokenFile, proxy: deps.config.proxy, required: deps.config.proxy || deps.config.restartTokenAlways }, 'restart token written');
        return async () => {
          token = null;
        };
      },
    };
  },
};

export default restart;

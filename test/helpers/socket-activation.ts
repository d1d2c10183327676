import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

/**
 * A stand-in for systemd's socket activation with Restart=always: it owns a listening socket and
 * starts the command again each time it exits, handing it the socket as fd 3 with LISTEN_FDS=1 and
 * LISTEN_PID set to the command's own pid.
 *
 * The socket must be held by a process that never accepts on it, or that process would take
 * connections from the queue. Node accepts on every socket it listens on, so the test process
 * only creates the socket, passes it to a small holder process and closes its own copy in the
 * same tick (before the event loop could poll it). The holder keeps fd 3 without touching it.
 */
const HOLDER = String.raw`
const { spawn } = require('node:child_process');
const { command, args, cwd, env, restartDelayMs } = JSON.parse(process.env.HOLDER_SPEC);
delete process.env.HOLDER_SPEC;
let child = null;
let stopping = false;
function start() {
  // exec keeps the pid, so $$ is the pid the server will have.
  child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"', command, ...args], {
    cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 3],
  });
  const pid = child.pid;
  process.send({ event: 'started', pid, at: Date.now() });
  child.on('exit', (code, signal) => {
    process.send({ event: 'exited', pid, code, signal, at: Date.now() });
    child = null;
    if (stopping) process.exit(0);
    else setTimeout(start, restartDelayMs);
  });
}
function stop() {
  if (stopping) return;
  stopping = true;
  if (child) child.kill('SIGTERM');
  else process.exit(0);
}
process.on('message', (m) => { if (m === 'stop') stop(); });
process.on('disconnect', stop);
process.on('SIGTERM', stop);
start();
`;

export interface SupervisorEvent {
  event: 'started' | 'exited';
  pid: number;
  code?: number | null;
  signal?: string | null;
  at: number;
}

export interface SocketSupervisor {
  port: number;
  url: string;
  events: SupervisorEvent[];
  /** stdout and stderr of the holder and every run of the command. */
  output(): string;
  /** Resolves with the pid of the n-th start (1-based), waiting for it when needed. */
  started(n: number, timeoutMs?: number): Promise<number>;
  /** Resolves with the exit event of the given pid. */
  exited(pid: number, timeoutMs?: number): Promise<SupervisorEvent>;
  /** SIGTERM to the command, no more restarts, the socket closes with the holder. */
  stop(): Promise<void>;
}

export async function startSocketSupervisor(options: {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  restartDelayMs?: number;
  host?: string;
}): Promise<SocketSupervisor> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: options.host ?? '127.0.0.1', backlog: 511 }, resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  // The listening socket's own descriptor: the child gets a duplicate of it as its fd 3.
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  let holder: ChildProcess;
  try {
    const spec = { command: options.command, args: options.args, cwd: options.cwd, env: options.env, restartDelayMs: options.restartDelayMs ?? 100 };
    holder = spawn(process.execPath, ['-e', HOLDER], {
      env: { ...process.env, HOLDER_SPEC: JSON.stringify(spec) },
      stdio: ['ignore', 'pipe', 'pipe', fd, 'ipc'],
    });
  } finally {
    // Same tick as listen(): this process never gets to accept a connection.
    server.close();
  }
  let out = '';
  holder.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  holder.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const events: SupervisorEvent[] = [];
  const waiters = new Set<() => void>();
  holder.on('message', (m: SupervisorEvent) => {
    events.push(m);
    for (const w of [...waiters]) w();
  });
  const holderExit = once(holder, 'exit');
  const waitFor = <T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const hit = find();
        if (hit === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; output:\n${out}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    events,
    output: () => out,
    started: (n, timeoutMs = 60_000) => waitFor(() => events.filter((e) => e.event === 'started')[n - 1]?.pid, timeoutMs, `start #${n}`),
    exited: (pid, timeoutMs = 60_000) => waitFor(() => events.find((e) => e.event === 'exited' && e.pid === pid), timeoutMs, `exit of ${pid}`),
    async stop() {
      if (holder.exitCode !== null || holder.signalCode !== null) return;
      if (holder.connected) holder.send('stop');
      else holder.kill('SIGTERM');
      const timer = setTimeout(() => {
        const last = events.filter((e) => e.event === 'started').at(-1);
        if (last) {
          try {
            process.kill(last.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        holder.kill('SIGKILL');
      }, 20_000);
      await holderExit;
      clearTimeout(timer);
    },
  };
}

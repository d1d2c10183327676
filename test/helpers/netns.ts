import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';

/**
 * A network namespace joined to this one by a veth pair with a private /30 of its own: the peer
 * inside the namespace is a different machine as far as a socket can tell, yet every packet
 * stays on this host. Tests use it for "a request from somewhere else" and for services that
 * must be reached over a real interface.
 */
export interface Netns {
  /** Name for `ip netns exec`. */
  name: string;
  /** The veth end that stays in this namespace, and its address. */
  hostInterface: string;
  hostAddress: string;
  /** The veth end inside the namespace, and its address. */
  nsInterface: string;
  nsAddress: string;
  prefixLength: 30;
  /** Runs a command inside the namespace to completion. */
  exec(command: string, args: string[], options?: { timeoutMs?: number; input?: string }): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Starts a long-running command inside the namespace (killed by cleanup() if still running). */
  spawn(command: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** Kills what runs inside, removes the veth pair and the namespace. Safe to call twice. */
  cleanup(): Promise<void>;
}

/** Why network namespaces cannot be made here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root: creating network namespaces and veth pairs takes CAP_NET_ADMIN and CAP_SYS_ADMIN';
  const ip = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (ip.error || ip.status !== 0) return 'needs the ip command from iproute2';
  return null;
}

function run(command: string, args: string[], timeoutMs = 10_000, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout, stderr: stderr || (err && code === null ? String(err.message) : '') });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function must(args: string[]): Promise<void> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
}

/** 10.200.x.y/30 that no interface here uses yet: the host end gets .y+1, the namespace end .y+2. */
function freeSubnet(): { host: string; ns: string } {
  const used = new Set<string>();
  for (const a of Object.values(networkInterfaces()).flat()) {
    if (!a || a.family !== 'IPv4' || !a.address.startsWith('10.200.')) continue;
    const [p, q, r, s = 0] = a.address.split('.').map(Number);
    used.add(`${p}.${q}.${r}.${s & 0xfc}`);
  }
  for (let i = 0; i < 100; i++) {
    const [x = 0, y = 0] = randomBytes(2);
    const base = `10.200.${x}.${y & 0xfc}`;
    if (used.has(base)) continue;
    return { host: `10.200.${x}.${(y & 0xfc) + 1}`, ns: `10.200.${x}.${(y & 0xfc) + 2}` };
  }
  throw new Error('no free 10.200.0.0/16 subnet for a veth pair');
}

export async function createNetns(): Promise<Netns> {
  const reason = netnsUnavailable();
  if (reason) throw new Error(`network namespaces unavailable: ${reason}`);
  const id = randomBytes(3).toString('hex');
  const name = `lectern-${process.pid}-${id}`;
  // Interface names are limited to 15 characters.
  const hostInterface = `lt${id}h`;
  const nsInterface = `lt${id}n`;
  const { host: hostAddress, ns: nsAddress } = freeSubnet();
  const children = new Set<ChildProcess>();
  let cleaned = false;

  const cleanupSync = () => {
    if (cleaned) return;
    cleaned = true;
    for (const child of children) child.kill('SIGKILL');
    const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    // Deleting one end of a veth pair deletes both; the namespace itself goes after.
    spawnSync('ip', ['link', 'del', hostInterface], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    process.off('exit', cleanupSync);
  };
  // A test run that dies before its afterAll still leaves nothing behind.
  process.on('exit', cleanupSync);

  try {
    await must(['netns', 'add', name]);
    await must(['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', nsInterface]);
    await must(['link', 'set', nsInterface, 'netns', name]);
    await must(['addr', 'add', `${hostAddress}/30`, 'dev', hostInterface]);
    await must(['link', 'set', hostInterface, 'up']);
    await must(['-n', name, 'addr', 'add', `${nsAddress}/30`, 'dev', nsInterface]);
    await must(['-n', name, 'link', 'set', nsInterface, 'up']);
    await must(['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    cleanupSync();
    throw err;
  }

  return {
    name,
    hostInterface,
    hostAddress,
    nsInterface,
    nsAddress,
    prefixLength: 30,
    exec: (command, args, options = {}) => run('ip', ['netns', 'exec', name, command, ...args], options.timeoutMs, options.input),
    spawn(command, args, options = {}) {
      const child = spawn('ip', ['netns', 'exec', name, command, ...args], options);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    async cleanup() {
      cleanupSync();
    },
  };
}

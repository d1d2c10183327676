import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/index.js';

/**
 * Issue 13: the private dirs of run_student sockets that a killed server leaves in /tmp are swept
 * at the next start-up, and a live server's dirs (two servers on one box) are left alone.
 */

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A process that opens a real run_student socket dir (as a harness run does) and stays in it. */
async function harnessRun(tmp: string): Promise<{ child: ChildProcess; dir: string }> {
  const script = `
    import { startRunStudentServer } from ${JSON.stringify(path.join(ROOT, 'src/plugins/autotest/run/student-runs.ts'))};
    const server = await startRunStudentServer({}, process.env.TMPDIR);
    process.stdout.write(server.dir + '\\n');
    setInterval(() => undefined, 60_000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  const dir = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`the harness run exited with ${code}`)));
  });
  return { child, dir };
}

describe('the start-up sweep of run_student socket dirs', () => {
  it('removes a killed run\'s dir and keeps a live one\'s, named with or without the maker\'s pid', async () => {
    const tmp = tempDir('lectern-sweep-');
    const live = await harnessRun(tmp);
    const dead = await harnessRun(tmp);
    expect(path.basename(dead.dir)).toMatch(new RegExp(`^lectern-rs-${dead.child.pid}-`));
    dead.child.kill('SIGKILL');
    await once(dead.child, 'exit');
    // Dirs named the old way (no pid): one with a listener on its socket, one without.
    const oldLive = path.join(tmp, 'lectern-rs-Ab12Cd');
    mkdirSync(oldLive, { mode: 0o711 });
    const listener = net.createServer((c) => c.destroy());
    await new Promise<void>((resolve) => listener.listen(path.join(oldLive, 's'), resolve));
    const oldDead = path.join(tmp, 'lectern-rs-Zz98Yy');
    mkdirSync(oldDead, { mode: 0o711 });
    // Names that only look alike are someone else's (a test's scratch dir, a user's folder).
    const unrelated = [path.join(tmp, 'lectern-rsx'), path.join(tmp, 'lectern-rs-sweep-Ab12Cd'), path.join(tmp, 'lectern-rs-12-notours')];
    for (const d of unrelated) mkdirSync(d);

    // The real server starting on this box (its /tmp is `tmp`).
    const data = tempDir('lectern-rs-data-');
    const server = spawn(process.execPath, [path.join(ROOT, 'dist/start.cjs'), 'serve'], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production', TMPDIR: tmp, LECTERN_DATA: data, LECTERN_CONTENT: path.join(ROOT, 'examples/course'), LECTERN_PORT: '0', LECTERN_HOST: '127.0.0.1', LECTERN_SELF_CHECK: 'no', LECTERN_GRADERS: '1', LECTERN_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(server);
    let log = '';
    server.stdout!.on('data', (c: Buffer) => (log += c.toString()));
    server.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (/Lectern is serving/.test(log)) resolve();
      };
      server.stdout!.on('data', check);
      server.stderr!.on('data', check);
      server.once('exit', (code) => reject(new Error(`server exited with ${code}: ${log}`)));
    });
    try {
      expect(existsSync(dead.dir)).toBe(false);
      expect(existsSync(oldDead)).toBe(false);
      expect(existsSync(path.join(live.dir, 's'))).toBe(true);
      expect(existsSync(path.join(oldLive, 's'))).toBe(true);
      for (const d of unrelated) expect(existsSync(d)).toBe(true);
      // The log is written asynchronously: it may follow the "serving" line.
      for (let i = 0; i < 400 && !log.includes('run_student socket dirs left behind'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(log).toMatch(/"removed":2,.*removed run_student socket dirs left behind by a process that died/);
    } finally {
      server.kill('SIGTERM');
      await once(server, 'exit');
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      live.child.kill('SIGKILL');
    }
  }, 120_000);
});

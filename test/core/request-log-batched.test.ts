import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_CONTENT, ROOT } from '../helpers/index.js';
import { prepareData } from '../helpers/server-process.js';

/**
 * The server writes its log lines to stdout in batches (src/lib/logger.ts): each request still gets
 * its line, within the flush interval while it runs, and every line is out when it exits.
 */
describe('batched request log lines of a real server process', () => {
  it('writes each request’s line soon after it, and all of them before exiting', async () => {
    const { dataDir } = prepareData({ email: 'batch@example.org', name: 'Batch', password: 'batch password 123' });
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/start.cjs'), 'serve'], {
      env: { ...process.env, NODE_ENV: 'production', LECTERN_PORT: '0', LECTERN_LOG_LEVEL: 'info', LECTERN_DATA: dataDir, LECTERN_CONTENT: DEMO_CONTENT, LECTERN_GRADERS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setInterval(() => {
          const m = /serving (http:\/\/\S+)/.exec(err);
          if (m?.[1]) {
            clearInterval(timer);
            resolve(m[1]);
          }
        }, 20);
        void exited.then(() => reject(new Error(`server exited: ${err}`)));
      });
      const lineOf = (id: string) => out.split('\n').find((l) => l.includes(`"req":"${id}"`) && l.includes('"msg":"request"'));

      // One request on an idle server: its line arrives without any further traffic.
      const first = await fetch(`${url}/healthz`);
      const firstId = first.headers.get('x-request-id')!;
      await first.text();
      const until = Date.now() + 20_000;
      while (!lineOf(firstId) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
      expect(JSON.parse(lineOf(firstId)!)).toMatchObject({ method: 'GET', url: '/healthz', status: 200 });

      // A burst, then an immediate stop: every line is written before the process ends.
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) {
        const res = await fetch(`${url}/no/such/page/${i}`);
        ids.push(res.headers.get('x-request-id')!);
        await res.text();
      }
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      for (const id of ids) expect(lineOf(id), id).toBeDefined();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});

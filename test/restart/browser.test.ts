import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { BrowserRun } from '../helpers/browser.js';
import { ROOT } from '../helpers/index.js';
import { contentWithSlowAssignment, prepareData } from '../helpers/server-process.js';
import { startSocketSupervisor } from '../helpers/socket-activation.js';

/**
 * The upload page in a real browser during an actual /restart: the student's upload is still
 * arriving (a slow link) when the old server's drain ends, the server answers 503 "restarting:
 * not stored", and the page sends the same files again by itself to the next server. One
 * submission is stored; the student lands on its receipt.
 */

const CLI = path.join(ROOT, 'dist/start.cjs');
const student = { email: 'resend@example.org', name: 'Resend Student', password: 'correct horse battery staple' };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the upload page across a restart (real browser, real server processes)', () => {
  it('an upload cut by the restart is answered 503 "restarting", sent again by the page itself, stored once', { timeout: 240_000 }, async () => {
    const { dataDir } = prepareData(student);
    const content = contentWithSlowAssignment(0);
    cleanups.push(() => rmSync(content, { recursive: true, force: true }));
    const sup = await startSocketSupervisor({
      command: process.execPath,
      args: [CLI, 'serve'],
      cwd: ROOT,
      env: { NODE_ENV: 'production', LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '1', LECTERN_SELF_CHECK: 'no', LECTERN_LOG_LEVEL: 'warn', LECTERN_DRAIN_MS: '300' },
    });
    cleanups.push(() => sup.stop());
    const pid1 = await sup.started(1);
    const run = await BrowserRun.start('restart-resend');
    cleanups.push(() => run.close());
    // The one answer this journey provokes on purpose.
    run.expect(503, /\/courses\/prog1\/assignments\/slow\/submissions/);

    const page = await run.open('desktop');
    await page.goto(`${sup.url}/login?next=${encodeURIComponent('/courses/prog1/assignments/slow/')}`);
    await page.getByLabel('E-mail address').fill(student.email);
    await page.getByLabel('Password').fill(student.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${sup.url}/courses/prog1/assignments/slow/`);
    await page.goto(`${sup.url}/courses/prog1/assignments/slow/submissions`);

    // A slow link (32 KB/s up): the 1 MB upload is still arriving when the restart comes.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 32 * 1024 });
    await page.locator('#files').setInputFiles({ name: 'answer.txt', mimeType: 'text/plain', buffer: Buffer.alloc(1024 * 1024, 'a') });
    await page.getByRole('button', { name: 'Submit' }).click();
    const tmp = path.join(dataDir, 'blobs', 'tmp');
    await until('the upload to reach the server', () => (readdirSync(tmp).length > 0 ? true : undefined));

    const token = readFileSync(path.join(dataDir, 'restart.token'), 'utf8').trim();
    expect((await fetch(`${sup.url}/restart`, { method: 'POST', headers: { 'x-restart-token': token } })).status).toBe(202);
    // The page says what happens and waits for Retry-After before sending again.
    await page.waitForFunction(() => /restarting; sending your files again/.test(document.getElementById('upload-message')?.textContent ?? ''), undefined, { timeout: 60_000 });
    await run.step(page, 'restarting-sending-again');
    expect(await sup.exited(pid1)).toMatchObject({ code: 0 });
    // The link is fast again for the resend.
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

    await page.waitForURL(/\/courses\/prog1\/submissions\/\d+$/, { timeout: 90_000 });
    await run.step(page, 'receipt-after-resend');
    const pid2 = await sup.started(2);
    expect(pid2).not.toBe(pid1);
    const db = openDatabase(databasePath(dataDir));
    const rows = db.prepare('SELECT id FROM submissions').all() as Array<{ id: number }>;
    db.close();
    expect(rows).toHaveLength(1);
    expect(page.url()).toMatch(new RegExp(`/submissions/${rows[0]!.id}$`));
    expect(readdirSync(tmp)).toEqual([]);
    await run.assertClean('after the resend');
  });
});

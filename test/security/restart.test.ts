import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/index.js';

/**
 * LECTERN_RESTART_TOKEN=yes: every /restart must carry the token, even from loopback without a
 * proxy, so a local browser or process cannot restart the server; the shipped hook sends it.
 */
let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('the restart token required everywhere', () => {
  it('refuses a token-less request from loopback and accepts the right token', async () => {
    t = await createTestApp({ config: { restartTokenAlways: true } });
    const none = await t.fetch('/restart', { method: 'POST' });
    expect(none.status).toBe(403);
    expect(t.app.closing).toBe(false);
    const get = await t.fetch('/restart');
    expect(get.status).toBe(403);
    const token = readFileSync(path.join(t.dataDir, 'restart.token'), 'utf8').trim();
    const right = await t.fetch('/restart', { method: 'POST', headers: { 'x-restart-token': token } });
    expect(right.status).toBe(202);
  });

  it('the shipped hook sends the token from the data directory', () => {
    const hook = readFileSync(path.join(import.meta.dirname, '..', '..', 'deploy', 'post-update'), 'utf8');
    expect(hook).toMatch(/X-Restart-Token: %s/);
    expect(hook).toMatch(/restart\.token/);
  });
});

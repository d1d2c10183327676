import { afterEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/index.js';
import { signIn } from './helpers/accounts.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('sign-in', () => {
  it('signs in through the form and shows the name in the layout', async () => {
    t = await createTestApp();
    const agent = await signIn(t, { name: 'Ada Lovelace' });
    const { res, text } = await agent.get('/');
    expect(res.status).toBe(200);
    expect(text).toContain('Ada Lovelace');
    expect(text).toContain('Sign out');
    expect(agent.csrf).not.toBe('');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser, uniqueEmail } from '../helpers/accounts.js';
import { createTestApp, type Agent, type TestApp } from '../helpers/index.js';

/**
 * Sign-in limits under parallel attack: every attempt is counted before its password is checked,
 * in the same transaction as the check of the limit, so a burst cannot slip under it.
 */
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 0 } });
});
afterAll(async () => {
  await t?.close();
});

async function loginAgent(): Promise<Agent> {
  const agent = t.agent();
  await agent.get('/login');
  return agent;
}

async function burst(attempts: Array<{ email: string; password: string }>): Promise<number[]> {
  const agents = await Promise.all(attempts.map(() => loginAgent()));
  const responses = await Promise.all(attempts.map((a, i) => agents[i]!.post('/login', a, { headers: { accept: 'application/json' } })));
  return responses.map((r) => r.status);
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

describe('the per-account limit holds against a parallel burst', () => {
  it('of 30 wrong passwords at once, 5 are checked and 25 refused, and the account is then locked', async () => {
    const user = makeUser(t);
    const statuses = await burst(Array.from({ length: 30 }, (_, i) => ({ email: user.email, password: `wrong password ${i}` })));
    expect(count(statuses, 401)).toBe(5);
    expect(count(statuses, 429)).toBe(25);
    const right = await (await loginAgent()).post('/login', { email: user.email, password: user.password });
    expect(right.status).toBe(429);
  });

  it('a correct password inside the burst does not open more guesses than the limit', async () => {
    const user = makeUser(t);
    const attempts = Array.from({ length: 30 }, (_, i) => ({ email: user.email, password: i === 2 ? user.password : `wrong password ${i}` }));
    const statuses = await burst(attempts);
    // Every attempt that had its password checked answered 401 or 302; no more than the limit did.
    expect(count(statuses, 401) + count(statuses, 302)).toBeLessThanOrEqual(5);
    expect(count(statuses, 429)).toBeGreaterThanOrEqual(25);
  });

  it('the limit on one address holds across many accounts at once', async () => {
    // A fresh server: the bursts above already counted against this test's loopback address.
    await t.close();
    t = await createTestApp({ config: { graders: 0 } });
    const statuses = await burst(Array.from({ length: 70 }, () => ({ email: uniqueEmail('nobody'), password: 'not the password' })));
    expect(count(statuses, 401)).toBe(50);
    expect(count(statuses, 429)).toBe(20);
  }, 120_000);
});

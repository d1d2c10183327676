import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit, staff } from '../../src/core/routes.js';
import { fixedClock } from '../../src/lib/clock.js';
import type { Plugin } from '../../src/plugin.js';
import { plugins } from '../../src/plugins/index.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { makeUser, signIn, type SignedInAgent } from '../helpers/accounts.js';

/**
 * The audit plugin's middleware names a staff request by what its route declares
 * (`audit('name')` on the route line), never by guessing from the URL; 'request' when the route
 * declares nothing; nothing for students, failures or handlers that wrote their own entry.
 * (In test/gradebook: the audit log moved out of the gradebook, and its tests with it.)
 */
const demo: Plugin = {
  name: 'demo',
  create: () => ({
    routes(r) {
      r.post('/courses/:course/demo/named', staff, audit('demo.named'), (ctx) => ctx.redirect('/courses/prog1/demo?done=1'));
      r.post('/courses/:course/demo/plain', staff, (ctx) => {
        ctx.body = { ok: true };
      });
      r.post('/courses/:course/demo/own', staff, audit('demo.own'), (ctx) => {
        ctx.state.audited = true;
        ctx.body = { ok: true };
      });
      r.post('/courses/:course/demo/fails', staff, audit('demo.fails'), (ctx) => {
        ctx.status = 409;
        ctx.body = { error: 'no' };
      });
    },
  }),
};

let t: TestApp;
let lecturer: SignedInAgent;

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 0 }, clock: fixedClock('2027-06-12T09:00:00Z'), plugins: [...plugins, demo] });
  lecturer = await signIn(t, { name: 'Lena Lecturer', role: 'lecturer' });
});
afterAll(async () => {
  await t.close();
});

function entries() {
  return t.app.deps.db.prepare("SELECT action, target, details FROM audit_log WHERE target LIKE 'POST /courses/prog1/demo/%' ORDER BY id").all() as Array<{ action: string; target: string; details: string }>;
}

describe('audit by declaration', () => {
  it('records a staff POST under its route\'s declared name, else as "request", with status, redirect and small fields', async () => {
    const someone = makeUser(t, { name: 'Named Nora' });
    expect((await lecturer.post('/courses/prog1/demo/named', { user: String(someone.id), password: 'hunter2' })).status).toBe(302);
    expect((await lecturer.post('/courses/prog1/demo/plain', {})).status).toBe(200);
    expect((await lecturer.post('/courses/prog1/demo/own', {})).status).toBe(200);
    expect((await lecturer.post('/courses/prog1/demo/fails', {})).status).toBe(409);
    const rows = entries();
    expect(rows.map((r) => r.action)).toEqual(['demo.named', 'request']);
    const named = JSON.parse(rows[0]!.details) as Record<string, unknown>;
    expect(named).toMatchObject({ status: 302, location: '/courses/prog1/demo?done=1', fields: { user: String(someone.id) }, userEmail: someone.email });
    expect(JSON.stringify(named)).not.toContain('hunter2');
    expect(JSON.stringify(named)).not.toContain(lecturer.csrf);
  });
});

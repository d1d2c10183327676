import { appendFileSync, chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { copyDemoContent, writeShellAssignment } from '../helpers/content.js';
import { makeUser, signInAs, type SignedInAgent, type TestUser } from '../helpers/accounts.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * Team assignments end to end over HTTP: students form a team, share one variant, one history,
 * one allowance and one result; the lecturer changes the team afterwards and past work stays
 * with the members of the time; extensions and the gradebook follow the members.
 */
let t: TestApp;
let alice: TestUser, bob: TestUser, carol: TestUser, dave: TestUser;
let a: SignedInAgent, b: SignedInAgent, c: SignedInAgent, d: SignedInAgent, lect: SignedInAgent;
const json = { accept: 'application/json' };

beforeAll(async () => {
  const dir = copyDemoContent();
  const assignment = writeShellAssignment(dir, 'pair', {
    title: 'Pair work',
    opens: '2026-09-01T00:00:00Z',
    deadline: '2026-12-01T00:00:00Z',
    script: 'cat params.json\ngrep -q ok answer.txt\n',
    wall: '20s',
    submissionsPerHour: 3,
    statement: '# Pair work\n\nNumbers for {{ who }}: {{ seed }}\n',
  });
  appendFileSync(path.join(assignment, 'assignment.yaml'), 'team:\n  min: 2\n  max: 2\n');
  writeFileSync(
    path.join(assignment, 'generate'),
    '#!/usr/bin/python3\nimport json, sys\nr = json.load(sys.stdin)\nprint(json.dumps({"who": r["student"]["id"], "seed": r["seed"][:12]}))\n',
  );
  chmodSync(path.join(assignment, 'generate'), 0o755);
  t = await createTestApp({ config: { contentDir: dir, graders: 1 } });
  alice = makeUser(t, { name: 'Alice Owl', studentId: 's-alice' });
  bob = makeUser(t, { name: 'Bob Owl', studentId: 's-bob' });
  carol = makeUser(t, { name: 'Carol Hawk', studentId: 's-carol' });
  dave = makeUser(t, { name: 'Dave Solo', studentId: 's-dave' });
  a = await signInAs(t, alice);
  b = await signInAs(t, bob);
  c = await signInAs(t, carol);
  d = await signInAs(t, dave);
  lect = await signInAs(t, makeUser(t, { role: 'lecturer', name: 'Lecturer' }));
});

afterAll(async () => {
  await t?.close();
});

async function post(agent: SignedInAgent, p: string, form: Record<string, string> = {}) {
  const res = await agent.post(p, form, { headers: json });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const base = '/courses/prog1/assignments/pair';

describe('teams', () => {
  let first: number;

  it('refuses a submission from a student without a team, naming the rule', async () => {
    await a.get(`${base}/submissions`);
    const res = await upload(a, 'prog1', 'pair', [{ name: 'answer.txt', content: 'ok\n' }]);
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toMatch(/team of at least 2/);
  });

  it('lets students form a team by invitation, and the invitee accept', async () => {
    await a.get(`${base}/team`);
    expect((await post(a, `${base}/team`, { name: 'Owls' })).status).toBe(200);
    expect((await post(a, `${base}/team/invite`, { who: 'nobody@example.org' })).status).toBe(422);
    expect((await post(a, `${base}/team/invite`, { who: 's-bob' })).status).toBe(200);
    await b.get(`${base}/team`);
    const page = (await (await b.fetch(`${base}/team`, { headers: json })).json()) as { invites: Array<{ id: number; teamName: string }> };
    expect(page.invites.map((i) => i.teamName)).toEqual(['Owls']);
    // Someone else cannot accept Bob's invitation.
    await c.get(`${base}/team`);
    expect((await post(c, `${base}/team/invites/${page.invites[0]!.id}/accept`)).status).toBe(404);
    const accepted = await post(b, `${base}/team/invites/${page.invites[0]!.id}/accept`);
    expect(accepted.status).toBe(200);
    expect((accepted.body.team as { members: Array<{ name: string }> }).members.map((m) => m.name).sort()).toEqual(['Alice Owl', 'Bob Owl']);
  });

  it('gives the team one variant seeded by the team', async () => {
    const pa = (await a.get(`${base}/`)).text;
    const pb = (await b.get(`${base}/`)).text;
    const pd = (await d.get(`${base}/`)).text;
    const numbers = (html: string) => /Numbers for ([^:]+): (\w+)/.exec(html)?.slice(1, 3);
    expect(numbers(pa)?.[0]).toMatch(/^team-\d+$/);
    expect(numbers(pa)).toEqual(numbers(pb));
    expect(numbers(pd)?.[1]).not.toBe(numbers(pa)?.[1]);
  });

  it('takes a submission from any member, names the submitter, and shows the result to all members only', async () => {
    await a.get(`${base}/submissions`);
    const res = await upload(a, 'prog1', 'pair', [{ name: 'answer.txt', content: 'ok\n' }]);
    expect(res.status).toBe(201);
    const receipt = (await res.json()) as { id: number; number: number; submittedBy: { name: string }; team: string };
    expect(receipt.submittedBy.name).toBe('Alice Owl');
    expect(receipt.team).toBe('Owls');
    first = receipt.id;
    const status = await waitForResult(b, 'prog1', first);
    expect(status.result?.score).toBe(1);
    // The tests ran on the team's variant.
    expect(status.result?.output ?? '').toMatch(/"who": "team-\d+"/);
    const shown = await b.get(`/courses/prog1/submissions/${first}`);
    expect(shown.res.status).toBe(200);
    expect(shown.text).toContain('Handed in by <strong class="submitted-by">Alice Owl</strong> for team <strong>Owls</strong>');
    expect((await c.fetch(`/courses/prog1/submissions/${first}`, { headers: json })).status).toBe(404);
  });

  it('shares one submission allowance per team and keeps members from leaving after handing in', async () => {
    await b.get(`${base}/submissions`);
    const second = await upload(b, 'prog1', 'pair', [{ name: 'answer.txt', content: 'nope\n' }]);
    expect(second.status).toBe(201);
    const n2 = (await second.json()) as { number: number };
    expect(n2.number).toBe(2);
    expect((await upload(a, 'prog1', 'pair', [{ name: 'answer.txt', content: 'ok\n' }])).status).toBe(201);
    const fourth = await upload(b, 'prog1', 'pair', [{ name: 'answer.txt', content: 'ok\n' }]);
    expect(fourth.status).toBe(429);
    expect((await post(b, `${base}/team/leave`)).status).toBe(409);
    const history = (await (await a.fetch(`${base}/submissions`, { headers: json })).json()) as { submissions: Array<{ number: number; submittedBy: { name: string } }> };
    expect(history.submissions.map((s) => [s.number, s.submittedBy.name])).toEqual([
      [3, 'Alice Owl'],
      [2, 'Bob Owl'],
      [1, 'Alice Owl'],
    ]);
  });

  it('lets the lecturer change the team; past work stays with the members of the time', async () => {
    await lect.get(`${base}/teams`);
    const teams = (await (await lect.fetch(`${base}/teams`, { headers: json })).json()) as { teams: Array<{ id: number; name: string }> };
    const owls = teams.teams.find((x) => x.name === 'Owls')!;
    expect((await post(lect, `${base}/teams/${owls.id}/members/${bob.id}/remove`)).status).toBe(200);
    expect((await post(lect, `${base}/teams/${owls.id}/members`, { who: carol.email })).status).toBe(200);
    t.clock.advance(2 * 3_600_000);
    await c.get(`${base}/submissions`);
    const res = await upload(c, 'prog1', 'pair', [{ name: 'answer.txt', content: 'ok\n' }]);
    expect(res.status).toBe(201);
    const carolSub = (await res.json()) as { id: number; number: number };
    expect(carolSub.number).toBe(4);
    const list = async (agent: SignedInAgent) =>
      ((await (await agent.fetch(`${base}/submissions`, { headers: json })).json()) as { submissions: Array<{ id: number }> }).submissions.map((s) => s.id);
    expect(await list(b)).not.toContain(carolSub.id);
    expect((await list(b)).length).toBe(3);
    expect(await list(c)).toEqual([carolSub.id]);
    expect(await list(a)).toContain(carolSub.id);
    // Bob still sees the team's first submission; Carol does not.
    expect((await b.fetch(`/courses/prog1/submissions/${first}`, { headers: json })).status).toBe(200);
    expect((await c.fetch(`/courses/prog1/submissions/${first}`, { headers: json })).status).toBe(404);
    await waitForResult(c, 'prog1', carolSub.id);
  });

  it('shows each member their counted score in the gradebook', async () => {
    for (const agent of [a, b]) {
      const history = (await (await agent.fetch(`${base}/submissions`, { headers: json })).json()) as { submissions: Array<{ id: number }> };
      for (const s of history.submissions) await waitForResult(agent, 'prog1', s.id);
    }
    const { text } = await lect.get(`${base}/students`);
    const counted = (id: number) => new RegExp(`data-counted="${id}"><strong>([^<]*)</strong><br><span class="muted">#(\\d+)`).exec(text)?.slice(1, 3);
    // Alice: last is Carol's #4 (1 point); Bob: last of his time is #3 (1 point); Carol: #4.
    expect(counted(alice.id)).toEqual(['1 / 1', '4']);
    expect(counted(bob.id)).toEqual(['1 / 1', '3']);
    expect(counted(carol.id)).toEqual(['1 / 1', '4']);
    expect(text).toContain('Team Owls');
  });

  it("applies the most generous member's extension to the whole team, and says whose it is", async () => {
    await lect.get(`${base}/students`);
    const res = await lect.post(`${base}/extensions`, { user: String(carol.id), until: '2026-12-10T12:00' });
    expect(res.status).toBe(302);
    const page = await a.get(`${base}/submissions`);
    expect(page.text).toContain("Carol Hawk's extension, the most generous in your team");
  });

  it('imports teams from CSV all or nothing, naming the bad line', async () => {
    await lect.get(`${base}/teams`);
    const bad = await post(lect, `${base}/teams/import`, { csv: `team,member\nSolos,${dave.email}\nSolos,nobody@example.org\n` });
    expect(bad.status).toBe(422);
    expect(String(bad.body.error)).toMatch(/line 2: no student of this course has the e-mail address "nobody@example.org"/);
    const before = (await (await lect.fetch(`${base}/teams`, { headers: json })).json()) as { teams: Array<{ name: string }> };
    expect(before.teams.map((x) => x.name)).not.toContain('Solos');
    const good = await post(lect, `${base}/teams/import`, { csv: `Solos,${dave.email}\nSolos,s-bob\n` });
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({ teamsCreated: 1, membersAdded: 2 });
    // Students of a lecturer-only course part cannot manage teams of others; staff pages are 404 to students.
    expect((await d.fetch(`${base}/teams`, { headers: json })).status).toBe(404);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { getJson, postJson, reviewContent, submitReviewed } from '../helpers/review.js';
import { linkIn, mailConfig, startSmtp, until, type Inbox } from '../helpers/smtp.js';

/**
 * A regrade request's answers reach the student by mail (real SMTP server on loopback): a staff
 * reply and the closing, not the student's own messages.
 */
const PUBLIC_URL = 'http://lectern.test';
let t: TestApp;
let inbox: Inbox;
let tutor: SignedInAgent;
let lecturer: SignedInAgent;
let bo: SignedInAgent;
let boSub: number;

beforeAll(async () => {
  inbox = await startSmtp();
  t = await createTestApp({ config: { graders: 1, contentDir: reviewContent(), publicUrl: PUBLIC_URL, mail: mailConfig(inbox.port) }, clock: fixedClock('2026-10-05T10:00:00Z') });
  lecturer = await signIn(t, { name: 'Lena Lecturer', role: 'lecturer' });
  tutor = await signIn(t, { name: 'Tom Tutor', role: 'tutor' });
  bo = await signIn(t, { name: 'Bo Ek' });
  boSub = await submitReviewed(bo);
}, 240_000);

afterAll(async () => {
  await t?.close();
  await inbox?.stop();
});

describe('mail: regrade answers', () => {
  it('mails the student when staff reply to or close their regrade request', async () => {
    const staffView = `/courses/prog1/review/submissions/${boSub}`;
    expect((await postJson(tutor, `${staffView}/comments`, { path: 'main.c', from: '3', to: '5', body: 'Use a loop here.' })).status).toBe(200);
    const comment = (await getJson<{ comments: Array<{ id: number }> }>(tutor, staffView)).body.comments[0]!;
    expect((await postJson(lecturer, `${staffView}/release`, { action: 'release' })).status).toBe(200);
    const asked = await postJson<{ id: number }>(bo, `/courses/prog1/submissions/${boSub}/regrades`, { subject: `comment:${comment.id}`, message: 'I did use one.' });
    expect(asked.status).toBe(201);
    const rid = asked.body.id;
    expect((await postJson(tutor, `/courses/prog1/regrades/${rid}/messages`, { body: 'Which line?' })).status).toBe(200);
    const [reply] = await inbox.waitFor(1);
    expect(inbox.recipients[0]).toEqual([bo.user.email]);
    expect(reply!.subject).toBe('Your regrade request for Reviewed work: a reply');
    expect(reply!.text).toContain('Tom Tutor replied to your regrade request');
    expect(reply!.text).toContain('Which line?');
    expect(linkIn(reply!, `${PUBLIC_URL}/courses/`)).toBe(`${PUBLIC_URL}/courses/prog1/regrades/${rid}`);
    // The student's own message is not mailed to them.
    expect((await postJson(bo, `/courses/prog1/regrades/${rid}/messages`, { body: 'Line 4.' })).status).toBe(200);
    expect((await postJson(tutor, `/courses/prog1/regrades/${rid}/close`, { outcome: 'declined', body: 'A loop it is not.' })).status).toBe(200);
    const [, closed] = await inbox.waitFor(2);
    expect(closed!.subject).toBe('Your regrade request for Reviewed work: declined');
    expect(closed!.text).toContain('without changing the grade');
    const kinds = () => t.app.deps.db.prepare("SELECT kind, status FROM mail_outbox ORDER BY id").all() as Array<{ kind: string; status: string }>;
    await until(() => kinds().every((k) => k.status === 'sent'), 'both messages sent');
    expect(kinds().map((k) => k.kind)).toEqual(['regrade-answer', 'regrade-answer']);
    expect(inbox.messages).toHaveLength(2);
  });
});

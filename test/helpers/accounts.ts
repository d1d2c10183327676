import { randomBytes } from 'node:crypto';
import type { Role } from '../../src/lib/auth.js';
import { issueSignupToken } from '../../src/plugins/accounts/signup.js';
import { createUser, enrol, findUserByEmail } from '../../src/plugins/accounts/users.js';
import type { Agent, TestApp } from './index.js';

export const TEST_PASSWORD = 'correct horse battery staple';

export interface SignInOptions {
  email?: string;
  name?: string;
  /** Enrolment role in `course`; default student. `null` enrols nowhere. */
  role?: Role | null;
  course?: string;
  admin?: boolean;
  studentId?: string;
  password?: string;
}

export interface TestUser {
  id: number;
  email: string;
  name: string;
  password: string;
}

export type SignedInAgent = Agent & { user: TestUser };

let counter = 0;
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}${counter}-${randomBytes(3).toString('hex')}@example.org`;
}

/** Creates (or reuses, by email) a user directly in the database and enrols them. */
export function makeUser(t: TestApp, options: SignInOptions = {}): TestUser {
  const { db } = t.app.deps;
  const email = (options.email ?? uniqueEmail()).toLowerCase();
  const name = options.name ?? `Test User ${counter}`;
  const password = options.password ?? TEST_PASSWORD;
  const existing = findUserByEmail(db, email);
  const id =
    existing?.id ??
    createUser(db, { email, name, password, isAdmin: options.admin ?? false, ...(options.studentId ? { studentId: options.studentId } : {}) }, t.clock);
  const role = options.role === undefined ? 'student' : options.role;
  if (role) enrol(db, { userId: id, course: options.course ?? 'prog1', role }, t.clock);
  return { id, email, name: existing?.name ?? name, password };
}

/**
 * Signs in through the real form: GET /login (pre-session CSRF cookie), POST /login, then GET
 * /account so the agent holds the session's CSRF token for its next post.
 */
export async function signInAs(t: TestApp, user: TestUser): Promise<SignedInAgent> {
  const agent = t.agent();
  await agent.get('/login');
  const res = await agent.post('/login', { email: user.email, password: user.password });
  if (res.status !== 302) throw new Error(`sign-in of ${user.email} failed with ${res.status}: ${await res.text()}`);
  await agent.get('/account');
  return Object.assign(agent, { user });
}

export async function signIn(t: TestApp, options: SignInOptions = {}): Promise<SignedInAgent> {
  return signInAs(t, makeUser(t, options));
}

/** A rostered student without a password, and the path of their one-time sign-up link. */
export function signupLink(t: TestApp, options: { email?: string; name?: string; course?: string; days?: number } = {}): { path: string; token: string; user: { id: number; email: string; name: string } } {
  const { db } = t.app.deps;
  const email = (options.email ?? uniqueEmail('invitee')).toLowerCase();
  const name = options.name ?? 'New Student';
  const id = findUserByEmail(db, email)?.id ?? createUser(db, { email, name }, t.clock);
  enrol(db, { userId: id, course: options.course ?? 'prog1', role: 'student' }, t.clock);
  const { token } = issueSignupToken(db, t.clock, id, { course: options.course ?? 'prog1', issuer: 'operator', ...(options.days ? { days: options.days } : {}) });
  return { path: `/signup/${token}`, token, user: { id, email, name } };
}

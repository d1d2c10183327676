import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Role } from '../../lib/auth.js';
import type { Command, Deps } from '../../plugin.js';
import { generatePassword, hashPasswordSync } from './password.js';
import { importRoster, issueSignupLinks, parseRoster, signupLinksCsv } from './roster.js';
import { destroyAllSessions } from './sessions.js';
import { SIGNUP_TTL_DAYS } from './signup.js';
import { createUser, enrol, findUserByEmail, isEmail, listEnrolled, normaliseEmail, setAdmin, setCredentials } from './users.js';

function out(text: string): void {
  process.stdout.write(text);
}
function err(line: string): void {
  process.stderr.write(`${line}\n`);
}

class UsageError extends Error {}

/** Links built from a loopback public URL only work on this machine: say so before they are mailed out. */
function warnLocalLinks(deps: Deps, count: number): void {
  if (!count) return;
  const host = new URL(deps.config.publicUrl).hostname;
  if (host === '127.0.0.1' || host === 'localhost' || host === '[::1]') {
    err(
      deps.config.publicUrlSet
        ? `lectern: note: the links point at ${deps.config.publicUrl} (LECTERN_PUBLIC_URL), a loopback address: only this machine can open them.`
        : `lectern: note: the links point at ${deps.config.publicUrl}; set LECTERN_PUBLIC_URL to the address students use.`,
    );
  }
}

function courseArg(deps: Deps, course: string | undefined): string {
  if (!course) throw new UsageError('--course <id> is required');
  if (!deps.content.course(course)) {
    throw new UsageError(`there is no course "${course}" in ${deps.content.root} (known: ${deps.content.courses.map((c) => c.slug).join(', ') || 'none'})`);
  }
  return course;
}

function daysArg(days: string | undefined): number {
  if (days === undefined) return SIGNUP_TTL_DAYS;
  const n = Number(days);
  if (!Number.isInteger(n) || n < 1 || n > 90) throw new UsageError('--days must be a whole number from 1 to 90');
  return n;
}

function run(usage: string, body: () => number): number {
  try {
    return body();
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`lectern: ${(e as Error).message}\n\n${usage}`);
      return 2;
    }
    throw e;
  }
}

const USERS_USAGE = `Usage:
  lectern users import <roster.csv> --course <id> [--days 14]
      Adds the students on the roster (CSV: email, name, student id) to the course and prints
      one-time sign-up links (CSV) for those who have no password yet.
  lectern users links --course <id> [--days 14]
      Prints fresh sign-up links for every student of the course without a password.
  lectern users list --course <id>
      Lists everyone enrolled in the course.`;

export const usersCommand: Command = {
  summary: 'users import <roster.csv> --course <id> | links | list: class rosters and sign-up links',
  async run(args, deps) {
    return run(USERS_USAGE, () => {
      const [sub, ...rest] = args;
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { course: { type: 'string' }, days: { type: 'string' } } });
      if (sub === 'import') {
        const file = positionals[0];
        if (!file || positionals.length > 1) throw new UsageError('give exactly one roster file');
        const course = courseArg(deps, values.course);
        const days = daysArg(values.days);
        let text: string;
        try {
          text = readFileSync(file === '-' ? 0 : file, 'utf8');
        } catch (e) {
          err(`lectern: cannot read ${file}: ${(e as Error).message}`);
          return 1;
        }
        const { rows, problems } = parseRoster(text);
        if (problems.length) {
          err(`lectern: nothing imported; ${file} has ${problems.length} problem(s):`);
          for (const p of problems) err(`  ${file}:${p.line ? `${p.line}: ` : ' '}${p.message}`);
          return 1;
        }
        // The operator vouches for every account: the CLI runs with the server's own rights.
        const result = importRoster(deps, course, rows, 'operator');
        const { links } = issueSignupLinks(deps, deps.config.publicUrl, course, { days, userIds: result.userIds, issuer: 'operator' });
        out(signupLinksCsv(links));
        warnLocalLinks(deps, links.length);
        err(
          `Imported ${rows.length} row(s) into ${course}: ${result.created} new account(s), ${result.enrolled} existing account(s) added, ` +
            `${result.unchanged} already enrolled. ${links.length} sign-up link(s) above, valid for ${days} day(s).`,
        );
        return 0;
      }
      if (sub === 'links') {
        const course = courseArg(deps, values.course);
        const days = daysArg(values.days);
        const { links } = issueSignupLinks(deps, deps.config.publicUrl, course, { days, issuer: 'operator' });
        out(signupLinksCsv(links));
        warnLocalLinks(deps, links.length);
        err(`${links.length} sign-up link(s) for ${course}, valid for ${days} day(s).`);
        return 0;
      }
      if (sub === 'list') {
        const course = courseArg(deps, values.course);
        for (const u of listEnrolled(deps.db, course)) out(`${u.email}\t${u.name}\t${u.studentId ?? ''}\t${u.role}\t${u.hasPassword ? 'signed up' : 'no password yet'}\n`);
        return 0;
      }
      throw new UsageError(sub ? `unknown sub-command "users ${sub}"` : 'which sub-command?');
    });
  },
};

const USER_USAGE = `Usage:
  lectern user add --email <address> --name <name> [--admin] [--student-id <id>] [--course <id> --role student|tutor|lecturer]
      Creates an account with a generated password, printed once.
  lectern user reset-password --email <address>
      Sets a new generated password (printed once) and signs the user out everywhere.
  lectern user admin --email <address> [--remove]
      Makes the user a site administrator (or no longer one).`;

export const userCommand: Command = {
  summary: 'user add --email x --name y [--admin] | reset-password | admin: one account',
  async run(args, deps) {
    return run(USER_USAGE, () => {
      const [sub, ...rest] = args;
      const { values } = parseArgs({
        args: rest,
        allowPositionals: false,
        options: {
          email: { type: 'string' },
          name: { type: 'string' },
          admin: { type: 'boolean', default: false },
          remove: { type: 'boolean', default: false },
          'student-id': { type: 'string' },
          course: { type: 'string' },
          role: { type: 'string' },
        },
      });
      const email = normaliseEmail(values.email ?? '');
      if (!email) throw new UsageError('--email is required');
      if (!isEmail(email)) throw new UsageError(`"${values.email}" is not an e-mail address`);
      if (sub === 'add') {
        const name = (values.name ?? '').trim();
        if (!name) throw new UsageError('--name is required');
        if (findUserByEmail(deps.db, email)) {
          err(`lectern: there is already an account for ${email} (use "lectern user reset-password --email ${email}" for a new password)`);
          return 1;
        }
        let course: string | undefined;
        let role: Role | undefined;
        if (values.course || values.role) {
          course = courseArg(deps, values.course);
          if (!['student', 'tutor', 'lecturer'].includes(values.role ?? '')) throw new UsageError('--role must be student, tutor or lecturer');
          role = values.role as Role;
        }
        const password = generatePassword();
        const id = deps.db.transaction(() => {
          const userId = createUser(deps.db, { email, name, password, isAdmin: values.admin, studentId: values['student-id'] ?? null }, deps.clock);
          if (course && role) enrol(deps.db, { userId, course, role }, deps.clock);
          return userId;
        })();
        out(`${password}\n`);
        err(`Created ${values.admin ? 'administrator ' : ''}${email} (id ${id})${course ? `, ${role} in ${course}` : ''}. The password above is shown only this once.`);
        return 0;
      }
      const user = findUserByEmail(deps.db, email);
      if (!user) {
        err(`lectern: there is no account for ${email}`);
        return 1;
      }
      if (sub === 'reset-password') {
        const password = generatePassword();
        const hash = hashPasswordSync(password);
        const ended = deps.db.transaction(() => {
          setCredentials(deps.db, user.id, hash, null);
          return destroyAllSessions(deps.db, user.id);
        })();
        out(`${password}\n`);
        err(`New password for ${email} above (shown only this once); ${ended} session(s) ended.`);
        return 0;
      }
      if (sub === 'admin') {
        setAdmin(deps.db, user.id, !values.remove);
        err(`${email} is ${values.remove ? 'no longer' : 'now'} a site administrator.`);
        return 0;
      }
      throw new UsageError(sub ? `unknown sub-command "user ${sub}"` : 'which sub-command?');
    });
  },
};

import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashing with scrypt (memory-hard, in node:crypto). The parameters are stored in the
 * hash, so they can be raised later: old hashes still verify, and `needsRehash` tells the login
 * path to upgrade them.
 */
export const SCRYPT = { logN: 15, r: 8, p: 1, keyLen: 32, saltLen: 16 } as const;

export const MIN_PASSWORD = 10;
export const MAX_PASSWORD = 256;

function maxmem(N: number, r: number): number {
  // scrypt needs 128 * N * r bytes; leave head room so the default 32 MiB cap never trips.
  return 128 * N * r * 2 + 1024 * 1024;
}

function scryptAsync(password: string, salt: Buffer, keyLen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keyLen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function encode(logN: number, r: number, p: number, salt: Buffer, key: Buffer): string {
  return `scrypt$${logN}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Hashes on libuv's thread pool, so the event loop keeps serving while it works. */
export async function hashPassword(password: string): Promise<string> {
  const { logN, r, p, keyLen, saltLen } = SCRYPT;
  const salt = randomBytes(saltLen);
  const N = 2 ** logN;
  const key = await scryptAsync(password, salt, keyLen, { N, r, p, maxmem: maxmem(N, r) });
  return encode(logN, r, p, salt, key);
}

/** For the CLI and test set-up, where blocking briefly does not matter. */
export function hashPasswordSync(password: string): string {
  const { logN, r, p, keyLen, saltLen } = SCRYPT;
  const salt = randomBytes(saltLen);
  const N = 2 ** logN;
  return encode(logN, r, p, salt, scryptSync(password.normalize('NFC'), salt, keyLen, { N, r, p, maxmem: maxmem(N, r) }));
}

interface Parsed {
  logN: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function parse(stored: string): Parsed | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [logN, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![logN, r, p].every((n) => Number.isInteger(n) && n > 0) || logN > 22 || r > 32 || p > 16) return null;
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const key = Buffer.from(parts[5] ?? '', 'base64');
  if (!salt.length || key.length < 16) return null;
  return { logN, r, p, salt, key };
}

// Verified when the account is unknown or has no password, so that the answer takes as long as
// for a real account and timing does not reveal which e-mail addresses exist.
let dummyHash: string | undefined;
function dummy(): string {
  dummyHash ??= encode(SCRYPT.logN, SCRYPT.r, SCRYPT.p, randomBytes(SCRYPT.saltLen), randomBytes(SCRYPT.keyLen));
  return dummyHash;
}

/** True when `password` matches `stored`. A missing or malformed hash costs the same time and fails. */
export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  const parsed = (stored && parse(stored)) || parse(dummy())!;
  const N = 2 ** parsed.logN;
  const key = await scryptAsync(password, parsed.salt, parsed.key.length, { N, r: parsed.r, p: parsed.p, maxmem: maxmem(N, parsed.r) });
  const ok = timingSafeEqual(key, parsed.key);
  return ok && !!stored && parse(stored) !== null;
}

export function needsRehash(stored: string): boolean {
  const parsed = parse(stored);
  return !parsed || parsed.logN !== SCRYPT.logN || parsed.r !== SCRYPT.r || parsed.p !== SCRYPT.p || parsed.key.length !== SCRYPT.keyLen;
}

/** A password for the operator to hand on: 20 characters from a 57-letter alphabet (~116 bits). */
export function generatePassword(length = 20): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const out: string[] = [];
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // Reject the top of the byte range so that every letter is equally likely.
      if (byte < 256 - (256 % alphabet.length) && out.length < length) out.push(alphabet[byte % alphabet.length]!);
    }
  }
  return out.join('');
}

/** A problem with a new password, or null. */
export function passwordProblem(password: string): string | null {
  if (password.length < MIN_PASSWORD) return `The password must be at least ${MIN_PASSWORD} characters long.`;
  if (password.length > MAX_PASSWORD) return `The password must be at most ${MAX_PASSWORD} characters long.`;
  return null;
}

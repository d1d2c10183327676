import { cpSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, createTestApp, type TestApp } from '../helpers/index.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent } from '../helpers/content.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * Debian's JDK and JUnit 5 in the sandbox under a 512 MB limit: the JVM reserves far more
 * address space than it uses, and its conf/security files link into /etc/java-17-openjdk.
 */
const RIGHT = `public class Fraction {
  private final int num, den;
  public Fraction(int num, int den) {
    int g = gcd(Math.abs(num), Math.abs(den));
    this.num = num / g; this.den = den / g;
  }
  private static int gcd(int a, int b) { return b == 0 ? a : gcd(b, a % b); }
  public Fraction add(Fraction o) { return new Fraction(num * o.den + o.num * den, den * o.den); }
  public String toString() { return num + "/" + den; }
}
`;
// Does not reduce: every test fails (4/4 is not 1/1).
const UNREDUCED = `public class Fraction {
  private final int num, den;
  public Fraction(int num, int den) { this.num = num; this.den = den; }
  public Fraction add(Fraction o) { return new Fraction(num * o.den + o.num * den, den * o.den); }
  public String toString() { return num + "/" + den; }
}
`;

let t: TestApp;
let student: SignedInAgent;

beforeAll(async () => {
  const content = copyDemoContent();
  cpSync(path.join(ROOT, 'test/fixtures/autograders/java-junit'), path.join(content, 'assignments', 'fraction'), { recursive: true });
  t = await createTestApp({ config: { graders: 1, contentDir: content } });
  student = await signIn(t, { name: 'Jo Java' });
});
afterAll(async () => {
  await t.close();
});

async function grade(content: string) {
  const res = await upload(student, 'prog1', 'fraction', [{ name: 'Fraction.java', content }]);
  expect(res.status, await res.clone().text()).toBe(201);
  return waitForResult(student, 'prog1', ((await res.json()) as { id: number }).id, 180_000);
}

describe('a Java assignment with JUnit 5', () => {
  it('grades a right solution with full marks and a wrong one with each failing assertion, with a 512 MB limit', async () => {
    const right = await grade(RIGHT);
    expect(right.result, JSON.stringify(right.result)).toMatchObject({ status: 'passed', score: 3, maxScore: 3, gradable: true });
    const wrong = await grade(UNREDUCED);
    expect(wrong.result).toMatchObject({ status: 'failed', score: 0, maxScore: 3 });
    expect(wrong.result!.tests.find((x) => x.name === 'reduces')!.output).toContain('expected: <1/2> but was: <2/4>');
  }, 300_000);
});

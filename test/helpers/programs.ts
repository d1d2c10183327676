/**
 * Random C programs for the similarity tests and benchmarks: each a handful of functions of random
 * statements and expressions, so that two programs share no long run of syntax by chance, and a
 * "copy" that is the same program with every identifier renamed and the functions reordered.
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Fn {
  name: number;
  params: number[];
  /** Lines with identifiers as @<n> placeholders (variables) and #<n> (functions). */
  body: string[];
}

export interface Program {
  fns: Fn[];
}

/** A program of about `lines` lines; identifiers are placeholders until rendered. */
export function makeProgram(seed: number, lines = 80): Program {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  let nextVar = 100;
  const fns: Fn[] = [];
  let total = 0;
  let fnIndex = 0;
  while (total < lines) {
    const params = Array.from({ length: int(1, 3) }, () => nextVar++);
    const locals = Array.from({ length: int(1, 3) }, () => nextVar++);
    let vars = params;
    const expr = (depth: number): string => {
      const leaf = () => (r() < 0.5 ? `@${pick(vars)}` : String(int(0, 99)));
      if (depth <= 0 || r() < 0.3) return leaf();
      const kind = int(0, 5);
      if (kind === 0) return `(${expr(depth - 1)} ${pick(['+', '-', '*', '%', '/'])} ${expr(depth - 1)})`;
      if (kind === 1) return `${expr(depth - 1)} ${pick(['<', '>', '==', '!=', '<=', '>='])} ${expr(depth - 1)}`;
      if (kind === 2 && fnIndex > 0) {
        const callee = int(0, fnIndex - 1);
        return `#${callee}(${Array.from({ length: fns[callee]!.params.length }, () => expr(depth - 1)).join(', ')})`;
      }
      if (kind === 3) return `-(${expr(depth - 1)})`;
      if (kind === 4) return `!(${expr(depth - 1)})`;
      return `(${expr(depth - 1)} ${pick(['&&', '||', '&', '|', '^'])} ${expr(depth - 1)})`;
    };
    const body: string[] = locals.map((v) => `    int @${v} = ${expr(1)};`);
    vars = [...params, ...locals];
    const statements = int(4, 10);
    for (let i = 0; i < statements; i++) {
      const kind = int(0, 6);
      const v = pick(vars);
      if (kind === 0) body.push(`    @${v} = ${expr(3)};`);
      else if (kind === 1) body.push(`    if (${expr(2)}) {`, `        @${v} ${pick(['+=', '-=', '*='])} ${expr(2)};`, '    }');
      else if (kind === 2) body.push(`    for (int i = 0; i < ${int(2, 9)}; i++) {`, `        @${v} = ${expr(2)};`, `        if (${expr(1)}) break;`, '    }');
      else if (kind === 3) body.push(`    while (@${v} > ${int(1, 50)}) {`, `        @${v} = @${v} / ${int(2, 5)};`, '    }');
      else if (kind === 4) body.push(`    if (${expr(2)}) {`, `        return ${expr(2)};`, '    } else {', `        @${v} = ${expr(2)};`, '    }');
      else if (kind === 5) body.push(`    switch (@${v} % ${int(2, 4)}) {`, `    case 0: @${v} = ${expr(2)}; break;`, `    default: @${v} = ${expr(1)}; break;`, '    }');
      else body.push(`    @${v} ${pick(['^=', '|=', '&='])} ${expr(3)};`);
    }
    body.push(`    return ${expr(2)};`);
    fns.push({ name: fnIndex, params, body });
    total += body.length + 3;
    fnIndex += 1;
  }
  return { fns };
}

/**
 * C text of a program. `names` renames identifiers (a copy renames them all), `order` lists the
 * functions in another order (declared up front so that any order compiles).
 */
export function renderProgram(p: Program, options: { prefix?: string; order?: number[]; starter?: string } = {}): string {
  const prefix = options.prefix ?? 'v';
  const fnName = (n: number) => `${prefix}_fn${n}`;
  const varName = (n: number) => `${prefix}${n}`;
  const sub = (line: string) => line.replace(/@(\d+)/g, (_, n: string) => varName(Number(n))).replace(/#(\d+)/g, (_, n: string) => fnName(Number(n)));
  const order = options.order ?? p.fns.map((_, i) => i);
  const out: string[] = [];
  if (options.starter) out.push(options.starter);
  for (const f of p.fns) out.push(`int ${fnName(f.name)}(${f.params.map((x) => `int ${varName(x)}`).join(', ')});`);
  out.push('');
  for (const i of order) {
    const f = p.fns[i]!;
    out.push(`int ${fnName(f.name)}(${f.params.map((x) => `int ${varName(x)}`).join(', ')})`, '{', ...f.body.map(sub), '}', '');
  }
  return out.join('\n');
}

/** A permutation of 0..n-1 that moves things around (reversed halves). */
export function shuffled(n: number, seed: number): number[] {
  const r = rng(seed);
  const xs = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

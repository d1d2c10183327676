import type { AppContext } from './context.js';
import { UserError } from './errors.js';

async function readRaw(ctx: AppContext, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > limit) throw new UserError(413, `The request body is larger than the limit of ${limit} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      ctx.req.unpipe();
      ctx.req.resume();
      throw new UserError(413, `The request body is larger than the limit of ${limit} bytes.`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads an urlencoded form (or a JSON object, for API clients) into a flat record of strings.
 * Repeated fields keep the last value; use `readFormAll` when a field may repeat.
 */
export async function readForm(ctx: AppContext, limit = 64 * 1024): Promise<Record<string, string>> {
  const all = await readFormAll(ctx, limit);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) out[k] = v.at(-1) ?? '';
  return out;
}

export async function readFormAll(ctx: AppContext, limit = 64 * 1024): Promise<Record<string, string[]>> {
  if (ctx.state.parsedForm) return ctx.state.parsedForm as Record<string, string[]>;
  const type = ctx.request.is('application/x-www-form-urlencoded', 'application/json');
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  if (!ctx.request.length && !ctx.get('transfer-encoding')) {
    ctx.state.parsedForm = out;
    return out;
  }
  if (!type) throw new UserError(415, 'Send the form as application/x-www-form-urlencoded or application/json.');
  const raw = await readRaw(ctx, limit);
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new UserError(400, 'The request body is not valid JSON.');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UserError(400, 'The JSON body must be an object.');
    // A form is flat: each field text (a number or true/false is taken as its text) or a list of
    // them. Anything nested is refused here, so no handler ever walks a structure a client built
    // (a value nested 200,000 deep would overflow the stack of whatever recursed into it).
    for (const [k, v] of Object.entries(parsed)) {
      if (v === null || v === undefined) continue;
      const items = Array.isArray(v) ? (v as unknown[]) : [v];
      out[k] = items.map((x) => {
        if (typeof x === 'string') return x;
        if (typeof x === 'number' || typeof x === 'boolean') return String(x);
        throw new UserError(400, `${k.slice(0, 64)}: expected text, a number or a list of them, not a nested ${x === null ? 'null' : Array.isArray(x) ? 'list' : 'object'}.`);
      });
    }
  } else {
    for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) (out[k] ??= []).push(v);
  }
  ctx.state.parsedForm = out;
  return out;
}

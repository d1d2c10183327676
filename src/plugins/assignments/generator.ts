import path from 'node:path';
import type { Deps } from '../../plugin.js';
import { parseShebang } from './bundle.js';
import { materialiseVersion, readBlob, versionFile, type Version } from './store.js';
import type { VariantStudent } from './variants.js';

/** Largest parameters JSON a generator may print. */
export const MAX_PARAMS_BYTES = 64 * 1024;

export type GeneratorOutcome =
  | { ok: true; params: Record<string, unknown>; wallMs: number; stderr: string }
  | { ok: false; status: string; message: string; stdout: string; stderr: string; wallMs: number };

const LOG_TEXT = 16 * 1024;
function clip(text: string): string {
  return text.length > LOG_TEXT ? `${text.slice(0, LOG_TEXT)}\n[... ${text.length - LOG_TEXT} more characters]` : text;
}

/**
 * Runs the version's generator in the sandbox on {"seed", "student"} and reads the parameters.
 * No generator: `{}`. Never throws for anything the generator does.
 */
export async function runGenerator(deps: Pick<Deps, 'sandbox' | 'blobs' | 'config'>, version: Version, seed: string, student: VariantStudent): Promise<GeneratorOutcome> {
  const entry = versionFile(version, 'generate');
  if (!entry) return { ok: true, params: {}, wallMs: 0, stderr: '' };
  const head = await readBlob(deps, entry.sha256);
  const argv = parseShebang(head.subarray(0, 256));
  if (!argv) return { ok: false, status: 'error', message: 'generate has no "#!" line', stdout: '', stderr: '', wallMs: 0 };
  const dir = await materialiseVersion(deps, version);
  const limits = version.config.generator.limits;
  const result = await deps.sandbox.run({
    command: [...argv, 'generate'],
    inputs: [{ from: path.join(dir, 'generate'), to: 'generate' }],
    stdin: JSON.stringify({ seed, student }),
    limits: {
      wallMs: limits.wallMs,
      cpuSeconds: limits.cpuSeconds,
      memoryBytes: limits.memoryBytes,
      outputBytes: MAX_PARAMS_BYTES * 4,
      processes: 32,
      fileSizeBytes: 16 * 1024 ** 2,
      workDirBytes: 64 * 1024 ** 2,
    },
  });
  const fail = (status: string, message: string): GeneratorOutcome => ({ ok: false, status, message, stdout: clip(result.stdout), stderr: clip(result.stderr), wallMs: result.wallMs });
  if (result.status === 'timeout') return fail('timeout', `the generator ran longer than ${limits.wallMs / 1000} s and was stopped`);
  if (result.status === 'memory') return fail('memory', `the generator used more than ${Math.round(limits.memoryBytes / 1024 ** 2)} MB of memory`);
  if (result.status === 'output_limit') return fail('output_limit', `the generator printed more than ${MAX_PARAMS_BYTES * 4} bytes`);
  if (result.status !== 'ok' || result.exitCode !== 0) {
    const how = result.exitCode !== null ? `exit code ${result.exitCode}` : result.signal ? `signal ${result.signal}` : result.status;
    return fail(result.status === 'ok' ? 'exit' : result.status, `the generator failed (${how})${result.message ? `: ${result.message}` : ''}`);
  }
  if (Buffer.byteLength(result.stdout) > MAX_PARAMS_BYTES) return fail('too_big', `the parameters are larger than ${MAX_PARAMS_BYTES / 1024} KB`);
  let params: unknown;
  try {
    params = JSON.parse(result.stdout);
  } catch (err) {
    return fail('bad_json', `the generator's output is not JSON (${(err as Error).message})`);
  }
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    return fail('not_object', `the generator must print a JSON object, not ${Array.isArray(params) ? 'an array' : params === null ? 'null' : typeof params}`);
  }
  return { ok: true, params: params as Record<string, unknown>, wallMs: result.wallMs, stderr: clip(result.stderr) };
}

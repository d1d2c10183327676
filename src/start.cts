#!/usr/bin/env node
/**
 * The `lectern` executable. It runs dist/lectern.cjs, the whole server bundled into one file
 * (see build/bundle.ts), from V8's code cache when there is a valid one beside it.
 *
 * Why: on Node 20 most of a cold start went to the ES module loader resolving and reading some 400
 * files (≈ 90 ms) and to V8 parsing and compiling them (≈ 75 ms); a restart during a deploy waits
 * for all of it. One file removes the first cost, and a code cache made after a real start and a
 * few requests (`lectern warm-cache`, run by `npm run build`) removes most of the second:
 * `script.createCachedData()` taken after the run holds every function compiled by then, where
 * Node's own compile-time caching would hold only the top level. Node 22's module.enableCompileCache
 * could do this for unbundled modules, but not on Node 20.
 *
 * V8 accepts a cache by the source's length, not its content, so the cache starts with the
 * bundle's SHA-256 and is used only for exactly that bundle. A cache from another Node or V8
 * version is rejected by V8 itself; the server then compiles as usual and says so in its
 * "listening" log line (codeCache: "rejected"). Without a bundle (only `tsc` ran), the unbundled
 * dist/cli.js runs instead. LECTERN_CODE_CACHE=off ignores the cache (for comparison, or should a
 * cache ever be suspected): read here, before there is any config, as the one exception.
 */
import crypto = require('node:crypto');
import fs = require('node:fs');
import nodeModule = require('node:module');
import path = require('node:path');
import url = require('node:url');
import vm = require('node:vm');

const bundle = path.join(__dirname, 'lectern.cjs');
const cacheFile = `${bundle}.cache`;
const HASH_BYTES = 32;
const WARM_COMMAND = 'warm-cache';

/** How the bundle was compiled, for the server's start-up log line. */
export type CodeCacheState = 'used' | 'rejected' | 'absent' | 'off' | 'unbundled';
const STATE_KEY = Symbol.for('lectern.codeCache');

function setState(state: CodeCacheState): void {
  (globalThis as Record<symbol, unknown>)[STATE_KEY] = state;
}

function readCache(hash: Buffer): Buffer | undefined {
  try {
    const data = fs.readFileSync(cacheFile);
    return data.subarray(0, HASH_BYTES).equals(hash) ? data.subarray(HASH_BYTES) : undefined;
  } catch {
    return undefined;
  }
}

function run(): void {
  if (!fs.existsSync(bundle)) {
    setState('unbundled');
    // A dynamic import keeps the ES module loader for the unbundled build only.
    void import(url.pathToFileURL(path.join(__dirname, 'cli.js')).href);
    return;
  }
  const source = fs.readFileSync(bundle, 'utf8');
  const hash = crypto.createHash('sha256').update(source).digest();
  const cachedData = process.env.LECTERN_CODE_CACHE === 'off' ? undefined : readCache(hash);
  // The same wrapper Node gives a CommonJS module, so the bundle sees require, module, __filename.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    // No importModuleDynamically: on Node 20, functions restored from a code cache lose it and
    // their import() fails, so the bundle has none (build/bundle.ts turns them into require()).
    cachedData,
  });
  setState(process.env.LECTERN_CODE_CACHE === 'off' ? 'off' : cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'used');
  if (process.argv[2] === WARM_COMMAND) {
    process.once('exit', (code) => {
      if (code !== 0) return;
      // Written whole and then renamed: a server starting meanwhile sees the old cache or the new.
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, Buffer.concat([hash, script.createCachedData()]));
      fs.renameSync(tmp, cacheFile);
    });
  }
  const module = { exports: {} };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper(module.exports, nodeModule.createRequire(bundle), module, bundle, __dirname);
}

run();

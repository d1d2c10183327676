// Preloaded into the server by bench/soak.mjs (node --import): appends process.memoryUsage() as a JSON
// line to $SOAK_MEMORY_FILE every second, so that RSS can be split into the V8 heap, memory
// outside it (Buffers, ArrayBuffers) and the rest (native: SQLite, malloc, code).
import fs from 'node:fs';

const file = process.env.SOAK_MEMORY_FILE;
if (file) {
  const t0 = Date.now();
  setInterval(() => {
    const m = process.memoryUsage();
    fs.appendFileSync(file, `${JSON.stringify({ s: (Date.now() - t0) / 1000, ...m })}\n`);
  }, 1000).unref();
}

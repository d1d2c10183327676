// Upload: a 100 MB submission streamed to the server; prints the server's RSS growth (target at
// most 32 MB: the upload goes to disk as it arrives) and the throughput.
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { contentWith, prepareData, rss, signIn, startServer, writeResults } from './_lib.mjs';

const SIZE = 100 * 1024 * 1024;

export async function main() {
  const { dataDir, students } = await prepareData(1);
  const server = await startServer({ LECTERN_DATA: dataDir, LECTERN_CONTENT: contentWith('wc -c answer.txt'), LECTERN_GRADERS: '0' });
  try {
    const client = await signIn(server.url, students[0].email, students[0].password);
    // Warm up the path once with a small file so lazy initialisation is not counted.
    await send(server.url, client, 1024 * 1024);
    await new Promise((r) => setTimeout(r, 300));
    const before = rss(server.pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss(server.pid));
    }, 10);
    const started = process.hrtime.bigint();
    const status = await send(server.url, client, SIZE);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    clearInterval(sampler);
    peak = Math.max(peak, rss(server.pid));
    if (status !== 201) throw new Error(`upload answered ${status}`);
    const growthMb = (peak - before) / 1024 / 1024;
    const mbps = SIZE / 1024 / 1024 / seconds;
    console.log(`upload 100 MB: server RSS before ${(before / 1048576).toFixed(1)} MB, peak ${(peak / 1048576).toFixed(1)} MB, growth ${growthMb.toFixed(1)} MB (target <= 32 MB)`);
    console.log(`upload 100 MB: ${seconds.toFixed(2)} s, ${mbps.toFixed(0)} MB/s`);
    writeResults('upload', { sizeBytes: SIZE, rssBeforeBytes: before, rssPeakBytes: peak, rssGrowthMb: growthMb, seconds, mbPerSecond: mbps, targetGrowthMb: 32, ok: growthMb <= 32 });
  } finally {
    await server.stop();
  }
}

function send(url, client, size) {
  const boundary = 'lecternbenchboundary';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="answer.txt"\r\nContent-Type: text/plain\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const chunk = Buffer.alloc(256 * 1024, 'x');
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/courses/prog1/assignments/bench/submissions?_csrf=${encodeURIComponent(client.csrf())}`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + size + tail.length), cookie: client.cookie(), accept: 'application/json' },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.write(head);
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end(tail);
    };
    pump();
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();

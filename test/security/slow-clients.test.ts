import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { signIn } from '../helpers/accounts.js';
import { createTestApp, type TestApp } from '../helpers/index.js';

/**
 * Slow and greedy clients on real sockets: headers trickled to hold a connection are cut off, a
 * body that stops moving is cut off, a large body that keeps moving however slowly is accepted,
 * and one address cannot hold more than its share of connections.
 */
let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function connect(url: string): Promise<net.Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves when the server ends the connection, with what it sent. */
function closed(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(text));
  });
}

/** Writes `chunks` one by one, `gapMs` apart, until they run out or the socket closes; returns how many went out. */
async function trickle(socket: net.Socket, chunks: string[], gapMs: number): Promise<number> {
  let sent = 0;
  for (const chunk of chunks) {
    if (socket.destroyed || socket.writableEnded) break;
    socket.write(chunk);
    sent += 1;
    await new Promise((r) => setTimeout(r, gapMs));
  }
  return sent;
}

describe('slow clients', () => {
  it('a client trickling its headers is disconnected before it finishes', async () => {
    t = await createTestApp({ config: { headersTimeoutMs: 1_500 } });
    const socket = await connect(t.url);
    const done = closed(socket);
    // 300 header lines, 100 ms apart: 30 s if the server let it.
    const lines = ['GET / HTTP/1.1\r\nHost: x\r\n', ...Array.from({ length: 300 }, (_, i) => `X-Slow-${i}: y\r\n`)];
    const sent = await trickle(socket, lines, 100);
    const answer = await done;
    expect(sent).toBeLessThan(lines.length);
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
    expect(t.app.clientErrors.counts.timeout + t.app.clientErrors.counts.malformed).toBeGreaterThan(0);
  }, 60_000);

  it('a body that stops moving is cut off; one that keeps moving, however slowly, is accepted', async () => {
    t = await createTestApp({ config: { headersTimeoutMs: 1_500, bodyIdleMs: 1_500, graders: 0 } });
    const lecturer = await signIn(t, { email: 'lecturer@example.org', role: null });
    await lecturer.get('/courses/prog1/roster');
    const rows = Array.from({ length: 400 }, (_, i) => `slow${i}@example.org, Slow Student ${i}, s${i}`).join('\n');
    const body = new URLSearchParams({ _csrf: lecturer.csrf, csv: rows }).toString();
    const head = (length: number) =>
      `POST /courses/prog1/roster/import HTTP/1.1\r\nHost: x\r\nCookie: ${[...lecturer.cookies].map(([k, v]) => `${k}=${v}`).join('; ')}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;

    // Stalled: half the body, then nothing.
    const stalled = await connect(t.url);
    const stalledDone = closed(stalled);
    stalled.write(head(body.length) + body.slice(0, body.length / 2));
    const stalledAnswer = await stalledDone;
    expect(stalledAnswer).not.toMatch(/^HTTP\/1\.1 [23]/);

    // Moving: 24 slices, 250 ms apart: 6 s in all, four times each limit, but never idle for long.
    const moving = await connect(t.url);
    const movingDone = closed(moving);
    const slices = [head(body.length), ...Array.from({ length: 24 }, (_, i) => body.slice(Math.floor((i * body.length) / 24), Math.floor(((i + 1) * body.length) / 24)))];
    expect(await trickle(moving, slices, 250)).toBe(slices.length);
    const answer = await movingDone;
    expect(answer).toMatch(/^HTTP\/1\.1 302/);
    expect(answer).toContain('done=imported');
  }, 120_000);

  it('a client hanging up mid-body is counted and logged at debug, not as a server error', async () => {
    t = await createTestApp();
    for (let i = 0; i < 5; i++) {
      const socket = await connect(t.url);
      socket.on('error', () => undefined);
      socket.write('POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\nemail=a%40b.c&pass');
      await new Promise((r) => setTimeout(r, 50));
      socket.destroy();
    }
    // A malformed request line, too.
    const garbage = await connect(t.url);
    const garbageDone = closed(garbage);
    garbage.write('THIS IS NOT HTTP\r\n\r\n');
    expect(await garbageDone).toMatch(/^HTTP\/1\.1 400/);
    for (let i = 0; i < 100 && t.app.clientErrors.counts.aborted < 5; i++) await new Promise((r) => setTimeout(r, 50));
    expect(t.app.clientErrors.counts.aborted).toBe(5);
    expect(t.app.clientErrors.counts.malformed).toBe(1);
    expect(t.logs.filter((l) => (l.level as number) >= 40)).toEqual([]);
  }, 60_000);

  it('one address holds at most the configured number of connections: idle ones make room, busy ones get a 503 it can show', async () => {
    t = await createTestApp({ config: { maxConnectionsPerAddress: 4 } });
    /** A fresh connection, with everything the server sends on it gathered. */
    const open = async () => {
      const socket = await connect(t!.url);
      socket.on('error', () => undefined);
      const got = { text: '', closed: false };
      socket.on('data', (d: Buffer) => (got.text += d.toString('latin1')));
      socket.once('close', () => (got.closed = true));
      return { socket, got };
    };
    const until = async (what: () => boolean) => {
      for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 25));
      return what();
    };
    const ask = async () => {
      const c = await open();
      c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => c.got.text.includes('\r\n\r\n') || c.got.closed);
      return c;
    };

    // Four kept-alive connections, answered and now idle (a browser's, or a lecture hall's behind
    // one NAT address): a fifth connection closes the oldest idle one instead of being refused.
    const idle = [await ask(), await ask(), await ask(), await ask()];
    expect(idle.map((c) => c.got.text.slice(0, 15))).toEqual(Array(4).fill('HTTP/1.1 200 OK'));
    const fifth = await ask();
    expect(fifth.got.text.slice(0, 15)).toBe('HTTP/1.1 200 OK');
    expect(await until(() => idle[0]!.got.closed)).toBe(true);
    expect(idle.slice(1).some((c) => c.got.closed)).toBe(false);
    expect(t.app.clientErrors.counts.refused ?? 0).toBe(0);
    for (const c of [...idle, fifth]) c.socket.destroy();
    await until(() => [...idle, fifth].every((c) => c.got.closed));

    // Four busy connections (a request still arriving): the next one is answered 503 with
    // Retry-After and closed, which a browser shows; it is not reset.
    const busy = [];
    for (let i = 0; i < 4; i++) {
      const c = await open();
      c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      busy.push(c);
    }
    const refused = await ask();
    expect(refused.got.text).toMatch(/^HTTP\/1\.1 503/);
    expect(refused.got.text).toMatch(/retry-after: 5/i);
    expect(refused.got.text).toContain('Too many connections from your network address');
    expect(await until(() => refused.got.closed)).toBe(true);
    expect(t.app.clientErrors.counts.refused).toBe(1);

    // A flood far past the cap is cut without an answer, so that refusing costs nothing.
    const waiting = [];
    for (let i = 0; i < 64; i++) waiting.push(await open());
    const cut = await ask();
    expect(cut.got.text).toBe('');
    expect(cut.got.closed).toBe(true);
    for (const c of [...busy, ...waiting]) c.socket.destroy();

    // Once the connections are gone, the address may connect again.
    let again = '';
    for (let i = 0; i < 50 && again !== 'HTTP/1.1 200 OK'; i++) {
      const next = await ask();
      again = next.got.text.slice(0, 15);
      next.socket.destroy();
      if (again !== 'HTTP/1.1 200 OK') await new Promise((r) => setTimeout(r, 100));
    }
    expect(again).toBe('HTTP/1.1 200 OK');
  }, 60_000);
});

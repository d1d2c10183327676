import net from 'node:net';

/**
 * A request in flight in the server now listening: one whole request on a connection first (so
 * that this process, not the next one, has accepted it), then a second whose head is only partly
 * sent until finish(). ready resolves with the pid that answered the first.
 */
export function requestInFlight(url: string): { ready: Promise<number>; finish(): Promise<string> } {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  let received = '';
  let firstDone: ((pid: number) => void) | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    received += d;
    const m = /"pid":(\d+)[^}]*}/.exec(received);
    if (firstDone && m) {
      const done = firstDone;
      firstDone = undefined;
      received = '';
      socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n', () => done(Number(m[1])));
    }
  });
  const closed = new Promise<string>((resolve, reject) => {
    socket.once('close', () => resolve(received));
    socket.once('error', reject);
  });
  const ready = new Promise<number>((resolve) => {
    firstDone = resolve;
    socket.once('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'));
  });
  return {
    ready,
    finish() {
      socket.write('\r\n');
      return closed;
    },
  };
}

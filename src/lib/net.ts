import { isIPv6 } from 'node:net';

/**
 * Whether a socket's remote address is this machine's loopback: 127.0.0.0/8, ::1, or an
 * IPv4-mapped loopback (::ffff:127.x.x.x in any spelling). Anything malformed is not loopback:
 * the caller is deciding whether to trust the peer, so doubt means no.
 */
export function isLoopback(address: string | null | undefined): boolean {
  if (typeof address !== 'string' || address === '') return false;
  const ipv4 = parseIpv4(address);
  if (ipv4) return ipv4[0] === 127;
  const groups = parseIpv6(address);
  if (!groups) return false;
  const [a, b, c, d, e, f, g, h] = groups as [number, number, number, number, number, number, number, number];
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0) {
    if (f === 0 && g === 0 && h === 1) return true;
    if (f === 0xffff) return g >> 8 === 127;
  }
  return false;
}

/** Dotted quad only, no leading zeros (which some parsers read as octal). */
function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

/** Eight 16-bit groups, or null. Accepts "::" compression, an IPv4 tail and a %zone suffix. */
function parseIpv6(text: string): number[] | null {
  let s = text.toLowerCase();
  const zone = s.indexOf('%');
  if (zone !== -1) {
    if (zone === s.length - 1) return null;
    s = s.slice(0, zone);
  }
  if (!s.includes(':')) return null;
  const lastColon = s.lastIndexOf(':');
  const last = s.slice(lastColon + 1);
  if (last.includes('.')) {
    // An IPv4 tail is two groups written differently: rewrite it as hex and parse one way.
    const v4 = parseIpv4(last);
    if (!v4) return null;
    const [w, x, y, z] = v4 as [number, number, number, number];
    s = `${s.slice(0, lastColon + 1)}${((w << 8) | x).toString(16)}:${((y << 8) | z).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  if (!head) return null;
  if (halves.length === 1) {
    return head.length === 8 ? head : null;
  }
  const rest = parse(halves[1]!);
  if (!rest) return null;
  const known = head.length + rest.length;
  if (known > 7) return null;
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest];
}

/** IPv4 as is; IPv6 by its /64, since one host usually owns a whole /64. */
export function addressKey(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return v4[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

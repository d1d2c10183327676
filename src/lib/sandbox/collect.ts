/**
 * Reads the tar stream the wrapper writes after the command (GNU tar, default format) and keeps
 * the first `capBytes` of each wanted regular file. It streams: a file larger than the cap is
 * skipped over, never held, so memory stays at (number of files x cap). Anything else in the
 * stream (symlinks, directories, unexpected names, garbage written by the sandboxed program into
 * the wrapper's descriptor) is ignored: the result can only ever contain wanted names.
 */
export class TarCollector {
  readonly files: Record<string, Buffer> = {};
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes of the current entry's data (padded to 512) still to come. */
  private remaining = 0;
  private dataLeft = 0;
  private current: { name: string; chunks: Buffer[]; kept: number; keep: boolean; longName: boolean } | null = null;
  private longName: string | null = null;
  private done = false;

  constructor(
    private readonly wanted: ReadonlySet<string>,
    private readonly capBytes: number,
  ) {}

  write(chunk: Buffer): void {
    if (this.done) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.drain();
  }

  private take(n: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }

  private drain(): void {
    while (!this.done) {
      if (this.current) {
        if (this.pendingBytes === 0) return;
        const n = Math.min(this.remaining, this.pendingBytes);
        const piece = this.take(n);
        const dataPart = piece.subarray(0, Math.min(piece.length, this.dataLeft));
        this.dataLeft -= dataPart.length;
        this.remaining -= n;
        const cur = this.current;
        const limit = cur.longName ? 4096 : this.capBytes;
        if ((cur.keep || cur.longName) && cur.kept < limit) {
          const kept = dataPart.subarray(0, limit - cur.kept);
          cur.chunks.push(Buffer.from(kept));
          cur.kept += kept.length;
        }
        if (this.remaining > 0) return;
        this.current = null;
        if (cur.longName) this.longName = Buffer.concat(cur.chunks).toString('utf8').replace(/\0.*$/s, '');
        else if (cur.keep) this.files[cur.name] = Buffer.concat(cur.chunks);
        continue;
      }
      if (this.pendingBytes < 512) return;
      const header = this.take(512);
      if (header.every((b) => b === 0)) {
        this.done = true;
        return;
      }
      const field = (start: number, length: number) => header.subarray(start, start + length).toString('utf8').replace(/\0.*$/s, '');
      const size = parseInt(field(124, 12).trim() || '0', 8);
      if (!Number.isFinite(size) || size < 0) {
        this.done = true;
        return;
      }
      const type = String.fromCharCode(header[156] ?? 0);
      const magic = field(257, 6);
      const prefix = magic.startsWith('ustar') && !magic.startsWith('ustar ') ? field(345, 155) : '';
      let name = this.longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
      this.longName = null;
      name = normalizeEntry(name);
      const isLongName = type === 'L';
      const isFile = type === '0' || type === '\0' || type === '7';
      this.current = { name, chunks: [], kept: 0, keep: isFile && this.wanted.has(name), longName: isLongName };
      this.dataLeft = size;
      this.remaining = Math.ceil(size / 512) * 512;
      if (this.remaining === 0) {
        const cur = this.current;
        this.current = null;
        if (cur.keep) this.files[cur.name] = Buffer.alloc(0);
        if (cur.longName) this.longName = '';
      }
    }
  }
}

function normalizeEntry(name: string): string {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  return n;
}

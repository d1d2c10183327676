import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import yazl from 'yazl';

export interface ArchiveEntry {
  name: string;
  data?: string | Buffer;
  /** Full unix mode including the file type bits, e.g. 0o100755 or 0o120777 for a symlink. */
  mode?: number;
}

/** A well-formed zip made by yazl (which refuses hostile names itself). */
export async function makeZip(file: string, entries: ArchiveEntry[], options: { compress?: boolean } = {}): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.name.endsWith('/')) zip.addEmptyDirectory(e.name, e.mode !== undefined ? { mode: e.mode } : {});
    else zip.addBuffer(Buffer.from(e.data ?? ''), e.name, { compress: options.compress ?? true, ...(e.mode !== undefined ? { mode: e.mode } : {}) });
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(file));
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A zip written byte by byte (stored, no compression), so that it can carry names no zip tool
 * would write: absolute paths, "..", any mode bits.
 */
export async function makeRawZip(file: string, entries: ArchiveEntry[]): Promise<void> {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const data = Buffer.from(e.data ?? '');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, data);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made on unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((e.mode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  await writeFile(file, Buffer.concat([...locals, cd, end]));
}

export type TarType = 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';

export interface TarEntry {
  name: string;
  data?: string | Buffer;
  type?: TarType;
  mode?: number;
  linkpath?: string;
}

/** A .tar.gz written header by header, so that it can hold any path and any entry type. */
export async function makeTarGz(file: string, entries: TarEntry[]): Promise<void> {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.name.endsWith('/') ? 'Directory' : 'File');
    const data = type === 'File' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    const header = new Header({
      path: e.name,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      uid: 0,
      gid: 0,
      size: data.length,
      mtime: new Date('2026-01-01T00:00:00Z'),
      type,
      ...(e.linkpath ? { linkpath: e.linkpath } : {}),
      uname: '',
      gname: '',
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block, data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(1024));
  await writeFile(file, gzipSync(Buffer.concat(blocks)));
}

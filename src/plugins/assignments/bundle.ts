import { createHash } from 'node:crypto';
import { lstat, open, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MAX_BUNDLE_BYTES, MAX_BUNDLE_FILES, parseAssignmentYaml, SANDBOX_SYSTEM_DIRS, type AssignmentConfig, type Problem } from './config.js';
import { asText, checkTemplate } from './render.js';

/** One file of a bundle, relative path with "/" separators. */
export interface BundleFile {
  path: string;
  abs: string;
  size: number;
  /** 0o755 for executables, else 0o644: the only permission bit a bundle carries. */
  mode: number;
}

/** The operator's maxima for a bundle's own caps (config bundleMaxFiles / bundleMaxBytes). */
export interface BundleCeiling {
  maxFiles: number;
  maxBytes: number;
}

export interface BundleLimits {
  maxFiles: number;
  maxTotalBytes: number;
  maxDepth: number;
}

export const DEFAULT_BUNDLE_LIMITS: BundleLimits = { maxFiles: 2000, maxTotalBytes: 100 * 1024 ** 2, maxDepth: 16 };

/** Editor, OS and interpreter droppings that never belong to a bundle's content. */
const IGNORED = new Set(['.git', '.hg', '.svn', '__pycache__', '.DS_Store', 'Thumbs.db', '__MACOSX', '.pytest_cache']);

export function isIgnoredName(name: string): boolean {
  return IGNORED.has(name) || name.startsWith('._');
}

export interface ScannedBundle {
  files: BundleFile[];
  problems: Problem[];
}

/** Lists a bundle folder; symlinks and special files are problems, not followed. */
export async function scanBundleDir(root: string, limits: BundleLimits = DEFAULT_BUNDLE_LIMITS): Promise<ScannedBundle> {
  const files: BundleFile[] = [];
  const problems: Problem[] = [];
  let total = 0;
  async function walk(dir: string, rel: string, depth: number): Promise<void> {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (isIgnoredName(entry.name)) continue;
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      const abs = path.join(dir, entry.name);
      if (entry.isSymbolicLink()) {
        problems.push({ file: relPath, field: '', message: 'is a symbolic link; bundles may only hold plain files and folders' });
      } else if (entry.isDirectory()) {
        if (depth + 1 > limits.maxDepth) problems.push({ file: relPath, field: '', message: `is nested deeper than ${limits.maxDepth} folders` });
        else await walk(abs, relPath, depth + 1);
      } else if (entry.isFile()) {
        const st = await lstat(abs);
        total += st.size;
        files.push({ path: relPath, abs, size: st.size, mode: st.mode & 0o111 ? 0o755 : 0o644 });
      } else {
        problems.push({ file: relPath, field: '', message: 'is not a plain file (device, socket or pipe)' });
      }
    }
  }
  await walk(root, '', 0);
  if (files.length > limits.maxFiles) problems.push({ file: '(bundle)', field: '', message: `has ${files.length} files; at most ${limits.maxFiles} are allowed` });
  if (total > limits.maxTotalBytes) problems.push({ file: '(bundle)', field: '', message: `is ${total} bytes; at most ${limits.maxTotalBytes} are allowed` });
  return { files, problems };
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  const fh = await open(file, 'r');
  try {
    for await (const chunk of fh.createReadStream()) hash.update(chunk as Buffer);
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

export interface ManifestEntry {
  path: string;
  sha256: string;
  size: number;
  mode: number;
}

/** The identity of a bundle's content: the same files, names and exec bits give the same hash. */
export function contentHash(manifest: ManifestEntry[]): string {
  const hash = createHash('sha256');
  for (const e of [...manifest].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    hash.update(`${e.mode.toString(8)} ${e.sha256} ${e.path}\n`);
  }
  return hash.digest('hex');
}

export interface ValidatedBundle {
  config: AssignmentConfig | null;
  files: BundleFile[];
  problems: Problem[];
  hasGenerator: boolean;
}

const MAX_STATEMENT_BYTES = 1024 ** 2;
/** Larger text files are copied as they are rather than templated. */
export const MAX_TEMPLATE_BYTES = 1024 ** 2;

/** Reads `#!/usr/bin/env python3` into argv; null when there is no shebang. */
export function parseShebang(firstBytes: Buffer): string[] | null {
  if (firstBytes[0] !== 0x23 || firstBytes[1] !== 0x21) return null;
  const end = firstBytes.indexOf(0x0a);
  const line = firstBytes
    .subarray(2, end === -1 ? Math.min(firstBytes.length, 256) : end)
    .toString('utf8')
    .trim();
  if (!line) return null;
  // Linux passes everything after the interpreter as one argument; so do we.
  const space = line.search(/\s/);
  if (space === -1) return [line];
  const rest = line.slice(space).trim();
  return rest ? [line.slice(0, space), rest] : [line.slice(0, space)];
}

async function bundleCaps(root: string): Promise<AssignmentConfig['bundle'] | null> {
  try {
    const file = path.join(root, 'assignment.yaml');
    const st = await lstat(file);
    if (!st.isFile() || st.size > 256 * 1024) return null;
    const text = asText(await readFile(file));
    return text === null ? null : (parseAssignmentYaml(text).config?.bundle ?? null);
  } catch {
    return null;
  }
}

/** Checks a bundle folder as a whole and reports every problem found, each with file and field. */
export async function validateBundleDir(root: string, limits: BundleLimits = DEFAULT_BUNDLE_LIMITS, ceiling: BundleCeiling = { maxFiles: MAX_BUNDLE_FILES, maxBytes: MAX_BUNDLE_BYTES }): Promise<ValidatedBundle> {
  // A bundle may raise its own caps (bundle: in assignment.yaml), up to what the operator allows
  // (LECTERN_BUNDLE_MAX_FILES / _BYTES): read them first.
  const caps = limits === DEFAULT_BUNDLE_LIMITS ? await bundleCaps(root) : null;
  const capProblems: Problem[] = [];
  if (caps && caps.maxFiles > ceiling.maxFiles) capProblems.push({ file: 'assignment.yaml', field: 'bundle.max_files', message: `must be at most ${ceiling.maxFiles} on this server (LECTERN_BUNDLE_MAX_FILES)` });
  if (caps && caps.maxBytes > ceiling.maxBytes) capProblems.push({ file: 'assignment.yaml', field: 'bundle.max_size', message: `must be at most ${ceiling.maxBytes} bytes on this server (LECTERN_BUNDLE_MAX_BYTES)` });
  const scanned = await scanBundleDir(root, caps ? { ...limits, maxFiles: Math.min(caps.maxFiles, ceiling.maxFiles), maxTotalBytes: Math.min(caps.maxBytes, ceiling.maxBytes) } : limits);
  const { files } = scanned;
  const problems = [...capProblems, ...scanned.problems];
  const byPath = new Map(files.map((f) => [f.path, f]));
  let config: AssignmentConfig | null = null;

  const yamlFile = byPath.get('assignment.yaml');
  if (!yamlFile) {
    problems.push({ file: 'assignment.yaml', field: '', message: 'is missing: a bundle needs assignment.yaml at its top level' });
  } else if (yamlFile.size > 256 * 1024) {
    problems.push({ file: 'assignment.yaml', field: '', message: 'is larger than 256 KB' });
  } else {
    const text = asText(await readFile(yamlFile.abs));
    if (text === null) problems.push({ file: 'assignment.yaml', field: '', message: 'is not UTF-8 text' });
    else {
      const parsed = parseAssignmentYaml(text);
      config = parsed.config;
      problems.push(...parsed.problems);
      // Declarative cases are templates over the parameters, like the statement.
      for (const [i, c] of (config?.test.io?.cases ?? []).entries()) {
        for (const [field, source] of [['stdin', c.stdin], ['expected', c.expected ?? ''], ...c.args.map((a, j) => [`args.${j}`, a] as const)] as const) {
          const err = checkTemplate(source, `test.cases.${i}.${field}`);
          if (err) problems.push({ file: 'assignment.yaml', field: `test.cases.${i}.${field}`, message: `template error: ${err}` });
        }
      }
    }
  }

  const statement = byPath.get('statement.md');
  if (!statement) {
    problems.push({ file: 'statement.md', field: '', message: 'is missing: a bundle needs the assignment text in statement.md' });
  } else if (statement.size > MAX_STATEMENT_BYTES) {
    problems.push({ file: 'statement.md', field: '', message: 'is larger than 1 MB' });
  } else {
    const text = asText(await readFile(statement.abs));
    if (text === null) problems.push({ file: 'statement.md', field: '', message: 'is not UTF-8 text' });
    else {
      const err = checkTemplate(text, 'statement.md');
      if (err) problems.push({ file: 'statement.md', field: '', message: `template error: ${err}` });
    }
  }

  const generate = byPath.get('generate');
  if (files.some((f) => f.path.startsWith('generate/'))) {
    problems.push({ file: 'generate', field: '', message: 'must be a single executable file, not a folder' });
  }
  if (generate) {
    const fh = await open(generate.abs, 'r');
    const head = Buffer.alloc(256);
    try {
      await fh.read(head, 0, 256, 0);
    } finally {
      await fh.close();
    }
    const argv = parseShebang(head);
    if (!argv) problems.push({ file: 'generate', field: '', message: 'must start with a "#!" line naming its interpreter, like #!/usr/bin/python3' });
    else if (argv[0]!.startsWith('/') && !SANDBOX_SYSTEM_DIRS.test(argv[0]!)) {
      problems.push({ file: 'generate', field: '', message: `interpreter "${argv[0]}" is outside /usr (and /bin, /sbin), the only system folders the sandbox offers` });
    }
  }

  for (const f of files) {
    if (!f.path.startsWith('starter/')) continue;
    if (f.size > MAX_TEMPLATE_BYTES) continue;
    const text = asText(await readFile(f.abs));
    if (text === null) continue;
    const err = checkTemplate(text, f.path);
    if (err) problems.push({ file: f.path, field: '', message: `template error: ${err} (wrap literal {{ }} or {% %} in {% raw %}...{% endraw %})` });
  }

  return { config, files, problems, hasGenerator: Boolean(generate) };
}

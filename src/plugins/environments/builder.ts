import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, cp, lstat, mkdir, readdir, readFile, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { list as tarList } from 'tar';
import { SANDBOX_ETC_FILES } from '../../lib/sandbox/sandbox.js';
import type { NormalisedSpec } from './environments.js';
import { WHEELS_DIR } from './environments.js';

/**
 * Builds an environment's root filesystem with existing tools, never Lectern's own package
 * handling: mmdebstrap for the Debian packages (apt resolves them from the host's configured
 * sources) or skopeo + umoci for an image archive the bundle carries, pip inside the new root for Python requirements (only from the wheels and sdists the
 * bundle ships: --no-index, builds do not reach PyPI), the bundle's setup script run once inside
 * the root (Gradescope's setup.sh). Everything happens in a temporary folder that is renamed into
 * place only when complete, so a failed build leaves nothing half-built.
 */

export class BuildError extends Error {}

export interface BuildRequest {
  /** data/environments (or a worker's cache): the root goes to <dir>/<hash>/root. */
  dir: string;
  hash: string;
  spec: NormalisedSpec;
  /** Bundle files the spec names (wheels under environment/wheels/, the setup script), by bundle path. */
  inputs: string | null;
  setupPath: string | null;
  onProgress(progress: string, log: string): void;
  signal?: AbortSignal;
}

const LOG_CAP = 64 * 1024;

/** The host's Debian release and apt sources, which the new root uses too. */
async function hostDebian(): Promise<{ suite: string; sources: string[] }> {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const suite = /^VERSION_CODENAME=(\w+)/m.exec(osRelease)?.[1];
  if (!suite) throw new BuildError('this host is not a Debian release with a code name (/etc/os-release): environments need one');
  const sources: string[] = [];
  try {
    await access('/etc/apt/sources.list');
    if (/^\s*deb\s/m.test(await readFile('/etc/apt/sources.list', 'utf8'))) sources.push('/etc/apt/sources.list');
  } catch {
    // Only deb822 sources on this host.
  }
  for (const name of (await readdir('/etc/apt/sources.list.d').catch(() => [] as string[])).sort()) {
    if (!/\.(list|sources)$/.test(name)) continue;
    const file = path.join('/etc/apt/sources.list.d', name);
    // Debian's own archive only: third-party sources need keys the new root does not have.
    if (/debian\.org\/debian|\/debian(-security)?\s*$/m.test(await readFile(file, 'utf8').catch(() => ''))) sources.push(file);
  }
  if (!sources.length) throw new BuildError('this host has no Debian apt sources configured (/etc/apt/sources.list(.d))');
  return { suite, sources };
}

class Log {
  text = '';
  add(chunk: string): void {
    this.text += chunk;
    if (this.text.length > LOG_CAP * 2) this.text = `… (earlier output cut)\n${this.text.slice(-LOG_CAP)}`;
  }
  tail(): string {
    return this.text.length > LOG_CAP ? `… (earlier output cut)\n${this.text.slice(-LOG_CAP)}` : this.text;
  }
}

function run(cmd: string, args: string[], log: Log, step: string, req: BuildRequest, env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    log.add(`\n$ ${[cmd, ...args].join(' ')}\n`);
    req.onProgress(step, log.tail());
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', ...env }, detached: true });
    let last = 0;
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log.add(text);
      const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
      const now = Date.now();
      if (lines.length && now - last > 500) {
        last = now;
        req.onProgress(`${step}: ${lines.at(-1)!.slice(0, 200)}`, log.tail());
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const abort = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    req.signal?.addEventListener('abort', abort, { once: true });
    child.on('error', (err) => {
      req.signal?.removeEventListener('abort', abort);
      reject(new BuildError(`${cmd} could not start (${err.message}): is it installed?`));
    });
    child.on('close', (code, signal) => {
      req.signal?.removeEventListener('abort', abort);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

/** The apt error a lecturer can act on, from mmdebstrap's output. */
function aptProblem(log: string): string | null {
  const missing = [...log.matchAll(/Unable to locate package (\S+)/g)].map((m) => m[1]!);
  if (missing.length) return `Debian has no package ${[...new Set(missing)].map((p) => `"${p}"`).join(', ')} (check the names under environment: debian:)`;
  const broken = /E: (Unable to correct problems.*|.*has no installation candidate.*|Version '.*' for '.*' was not found)/.exec(log);
  return broken ? `apt: ${broken[1]}` : null;
}

function sandboxedInRoot(root: string, extra: string[], network: boolean): string[] {
  // bwrap as root with the new root writable at /: a chroot with its own /proc, /dev and /tmp,
  // and no network unless the step is allowed one.
  return [
    '--bind', root, '/',
    '--proc', '/proc',
    '--dev', '/dev',
    '--tmpfs', '/tmp',
    '--unshare-pid', '--unshare-ipc', '--unshare-uts',
    ...(network ? ['--ro-bind', '/etc/resolv.conf', '/etc/resolv.conf'] : ['--unshare-net']),
    '--die-with-parent',
    '--setenv', 'HOME', '/root',
    '--setenv', 'DEBIAN_FRONTEND', 'noninteractive',
    ...extra,
  ];
}

async function du(dir: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('du', ['-sb', '--one-file-system', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', () => resolve(Number(out.split(/\s/)[0]) || 0));
    child.on('error', () => resolve(0));
  });
}

/** Builds the root, renames it into place and returns its size in bytes; throws BuildError with a message for the lecturer. */
export async function buildEnvironment(req: BuildRequest): Promise<{ bytes: number; log: string }> {
  const log = new Log();
  await mkdir(req.dir, { recursive: true, mode: 0o755 });
  const work = path.join(req.dir, `.build-${req.hash.slice(0, 16)}-${randomBytes(6).toString('hex')}`);
  const root = path.join(work, 'root');
  try {
    await mkdir(work, { mode: 0o755 });
    if (req.spec.oci) {
      await unpackImage(req, work, root, log);
    } else {
      const { suite, sources } = await hostDebian();
      const packages = [...new Set([...req.spec.debian, ...(req.spec.python.length ? ['python3-pip'] : []), ...(req.spec.npm?.length ? ['nodejs'] : [])])].sort();
      // unshare mode, also as root: its mounts live in a private namespace, so a build that is killed
      // leaves no /proc or /dev mounted inside the folder that is then removed.
      const args = ['--mode=unshare', '--variant=apt', '--format=directory', ...(packages.length ? [`--include=${packages.join(',')}`] : []), suite, root, ...sources];
      const code = await run('mmdebstrap', args, log, 'Debian packages', req);
      if (req.signal?.aborted) throw new BuildError('the build was stopped');
      if (code !== 0) throw new BuildError(aptProblem(log.text) ?? `mmdebstrap failed with exit code ${code}: see the build log`);
    }

    if (req.spec.python.length) {
      const wheels = req.inputs ? path.join(req.inputs, WHEELS_DIR) : null;
      const hasWheels = wheels !== null && (await readdir(wheels).catch(() => [])).length > 0;
      const extra = hasWheels ? ['--ro-bind', wheels, '/tmp/wheels'] : [];
      const pip = ['/usr/bin/python3', '-m', 'pip', 'install', '--no-index', '--no-cache-dir', '--break-system-packages', '--root-user-action=ignore', '--disable-pip-version-check', ...(hasWheels ? ['--find-links', '/tmp/wheels'] : []), ...req.spec.python];
      const pcode = await run('bwrap', [...sandboxedInRoot(root, extra, false), '--', ...pip], log, 'Python requirements', req);
      if (pcode !== 0) {
        const missing = /No matching distribution found for (\S+)/.exec(log.text)?.[1];
        throw new BuildError(
          missing
            ? `pip: no distribution of "${missing}" in the bundle's ${WHEELS_DIR} (builds do not reach PyPI: ship its wheel or sdist there, or name its Debian package python3-...)`
            : `pip failed with exit code ${pcode}: see the build log`,
        );
      }
    }

    if (req.spec.npm?.length) await installNpm(req, work, root, req.spec.npm, log);

    if (req.spec.setup && req.setupPath && req.inputs) {
      await cp(path.join(req.inputs, req.setupPath), path.join(root, 'root', '.lectern-setup'), { force: true });
      // Gradescope runs apt-get update before setup.sh; the script may install more packages.
      const scode = await run('bwrap', [...sandboxedInRoot(root, [], true), '--chdir', '/root', '--', '/bin/bash', '-c', 'apt-get update -qq && bash /root/.lectern-setup'], log, 'setup script', req);
      await rm(path.join(root, 'root', '.lectern-setup'), { force: true });
      if (scode !== 0) throw new BuildError(`${req.setupPath} failed with exit code ${scode}: see the build log`);
      await rm(path.join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
      await mkdir(path.join(root, 'var/lib/apt/lists/partial'), { recursive: true });
    }

    // Mount points of the files the sandbox puts over the root's /etc.
    await mkdir(path.join(root, 'etc'), { recursive: true });
    for (const f of SANDBOX_ETC_FILES) {
      const file = path.join(root, 'etc', f);
      await access(file).catch(() => writeFile(file, ''));
    }
    req.onProgress('measuring', log.tail());
    const bytes = await du(root);
    const final = path.join(req.dir, req.hash);
    await mkdir(final, { recursive: true, mode: 0o755 });
    await rm(path.join(final, 'root'), { recursive: true, force: true });
    await rename(root, path.join(final, 'root'));
    log.add(`\nready: ${bytes} bytes\n`);
    return { bytes, log: log.tail() };
  } catch (err) {
    const e = err instanceof BuildError ? err : new BuildError(`the build failed: ${(err as Error).message}`);
    (e as BuildError & { log?: string }).log = log.tail();
    throw e;
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The npm error a lecturer can act on, from npm's output. */
function npmProblem(log: string): string | null {
  const missing = /npm error 404 +(?:The requested resource )?'(.+?)' (?:is not in this registry|could not be found)/.exec(log)?.[1];
  if (missing) return `npm has no package "${missing.replace(/(?<=.)@[^@/]*$/, '')}" (check the names under environment: npm:)`;
  const version = /npm error notarget No matching version found for (\S+?)\.?$/m.exec(log)?.[1];
  if (version) return `npm has no version ${version} (check the versions under environment: npm:)`;
  return null;
}

/** What the server's npm reads from the environment: its user's ~/.npmrc, proxy and CA settings. */
function npmEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (/^(HOME|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|NO_PROXY|HTTPS?_PROXY)$/i.test(k) || /^npm_config_/i.test(k))) env[k] = v;
  }
  return env;
}

function capture(cmd: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', ...env } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', () => resolve(out));
    child.on('error', () => resolve(''));
  });
}

/**
 * npm packages into the root's /usr/local/lib/node_modules, by the host's npm (the root needs no
 * npm of its own: Debian's pulls in hundreds of node-* packages). --ignore-scripts: a third-party
 * package's lifecycle scripts never run on the host, so packages that build native code or fetch
 * binaries at install time are not supported.
 */
async function installNpm(req: BuildRequest, work: string, root: string, specs: string[], log: Log): Promise<void> {
  const node = (await Promise.any(['usr/bin/node', 'usr/local/bin/node', 'usr/bin/nodejs'].map(async (p) => (await access(path.join(root, p)), p))).catch(() => null));
  if (!node) throw new BuildError('environment: npm: the root has no node (/usr/bin/node or /usr/local/bin/node): an oci: image must bring Node.js itself');
  const prefix = path.join(root, 'usr/local');
  await mustStayInside(root, prefix);
  // The host's npm configuration (registry mirror, proxy, CA file) applies as it does to the
  // server's own npm; --prefix alone would move the global npmrc into the new root.
  const env = npmEnv();
  const globalconfig = (await capture('npm', ['config', 'get', 'globalconfig'], env)).trim();
  const args = ['install', '--global', '--prefix', prefix, ...(globalconfig ? ['--globalconfig', globalconfig] : []), '--ignore-scripts', '--no-audit', '--no-fund', '--no-update-notifier', '--cache', path.join(work, 'npm-cache'), '--', ...specs];
  const code = await run('npm', args, log, 'npm packages', req, env);
  if (req.signal?.aborted) throw new BuildError('the build was stopped');
  if (code !== 0) throw new BuildError(npmProblem(log.text) ?? `npm failed with exit code ${code}: see the build log`);
  await linkIntoGlobalFolder(req, root, node, path.join(prefix, 'lib', 'node_modules'), log);
  await linkForImport(root, log);
}

/**
 * `import 'pkg'` (ES modules) ignores Node's global folders and looks only in node_modules folders
 * above the importing file; one at the top of the root is above every file in the sandbox (the
 * sandbox recreates the root's top-level relative symlinks). An image that has its own
 * /node_modules keeps it.
 */
async function linkForImport(root: string, log: Log): Promise<void> {
  const top = path.join(root, 'node_modules');
  try {
    // lstat, not access: an image's own /node_modules may be a link that only resolves inside the root.
    await lstat(top);
    log.add('\n/node_modules exists in the root: kept, so `import` finds what the image put there\n');
    return;
  } catch {
    // Not there: linked below.
  }
  await symlink('usr/local/lib/node_modules', top);
  log.add('\nlinked /node_modules -> usr/local/lib/node_modules (for import)\n');
}

/**
 * Node finds packages without NODE_PATH in its global folders, which differ by build (Debian's
 * node: /usr/lib/<triplet>/nodejs and /usr/share/nodejs; upstream's: <prefix>/lib/node): the root's
 * own node says which (run in the root without network; no package code runs), and each installed
 * package gets a link in the first of them outside HOME. A name a Debian package already has there
 * is replaced: the lecturer asked for the npm one.
 */
async function linkIntoGlobalFolder(req: BuildRequest, root: string, node: string, modules: string, log: Log): Promise<void> {
  const answer = path.join(root, 'root', '.lectern-node-paths');
  await mustStayInside(root, answer);
  await mkdir(path.dirname(answer), { recursive: true });
  const code = await run('bwrap', [...sandboxedInRoot(root, [], false), '--', `/${node}`, '-e', 'require("fs").writeFileSync("/root/.lectern-node-paths", JSON.stringify(require("module").globalPaths))'], log, 'npm packages: node global folders', req);
  let folders: unknown = null;
  try {
    folders = JSON.parse(await readFile(answer, 'utf8'));
  } catch {
    // Reported below.
  }
  await rm(answer, { force: true });
  const folder = code === 0 && Array.isArray(folders) ? folders.find((f): f is string => typeof f === 'string' && /^\/(usr|opt)\//.test(f)) : undefined;
  if (!folder) throw new BuildError(`environment: npm: the root's /${node} did not name a global module folder under /usr or /opt: see the build log`);
  const names: string[] = [];
  for (const entry of await readdir(modules)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) for (const sub of await readdir(path.join(modules, entry))) names.push(`${entry}/${sub}`);
    else names.push(entry);
  }
  for (const name of names) {
    const link = path.join(root, folder, name);
    await mustStayInside(root, path.dirname(link));
    await mkdir(path.dirname(link), { recursive: true });
    await rm(link, { recursive: true, force: true });
    // Relative, so that it points inside the root wherever the root is mounted.
    await symlink(path.relative(path.dirname(link), path.join(modules, name)), link);
  }
  log.add(`\nlinked into ${folder}: ${names.join(', ')}\n`);
}

/**
 * The host writes into the new root by path, following its symlinks: an image whose /usr/local
 * (or a global folder) links to an absolute path would have the build write on the host.
 */
async function mustStayInside(root: string, target: string): Promise<void> {
  const top = await realpath(root);
  let dir = target;
  for (;;) {
    const real = await realpath(dir).catch(() => null);
    if (real !== null) {
      if (real !== top && !real.startsWith(`${top}/`)) throw new BuildError(`environment: npm: ${path.relative(root, dir) || '/'} in the root leads outside it (a symlink to an absolute path?)`);
      return;
    }
    dir = path.dirname(dir);
  }
}

/** An OCI image archive holds oci-layout at its top; docker save (and podman's default) output does not. */
async function isOciArchive(file: string): Promise<boolean> {
  let found = false;
  await tarList({ file, onReadEntry: (e) => void (e.path === 'oci-layout' && (found = true)) });
  return found;
}

/**
 * The root of an image archive the lecturer exported (docker save / podman save, or an OCI
 * archive): skopeo reads it into an OCI layout, umoci applies its layers into a folder. Neither
 * reaches a registry; the image is what the bundle carries.
 */
async function unpackImage(req: BuildRequest, work: string, root: string, log: Log): Promise<void> {
  if (req.spec.debian.length) throw new BuildError('environment: oci: and debian: cannot be combined: install the packages in the image (or in its setup: script)');
  const at = Object.entries(req.spec.inputs).find(([, sha]) => sha === req.spec.oci)?.[0];
  if (!at || !req.inputs) throw new BuildError('environment: oci: names a file that is not in the bundle');
  const archive = path.join(req.inputs, at);
  let oci: boolean;
  try {
    oci = await isOciArchive(archive);
  } catch (err) {
    throw new BuildError(`environment: oci: ${at} is not a tar archive (docker save or podman save output): ${(err as Error).message}`);
  }
  const layout = path.join(work, 'oci');
  const code = await run('skopeo', ['copy', `${oci ? 'oci-archive' : 'docker-archive'}:${archive}`, `oci:${layout}:image`], log, 'image', req);
  if (req.signal?.aborted) throw new BuildError('the build was stopped');
  if (code !== 0) throw new BuildError(`skopeo could not read ${at} as an image archive (docker save or podman save output): see the build log`);
  const bundle = path.join(work, 'bundle');
  // As root umoci keeps the image's owners; otherwise (--rootless) files belong to the server's user.
  const ucode = await run('umoci', ['unpack', ...(process.getuid?.() === 0 ? [] : ['--rootless']), '--image', `${layout}:image`, bundle], log, 'image layers', req);
  if (req.signal?.aborted) throw new BuildError('the build was stopped');
  if (ucode !== 0) throw new BuildError(`umoci could not unpack the layers of ${at}: see the build log`);
  await rename(path.join(bundle, 'rootfs'), root);
  await rm(layout, { recursive: true, force: true });
  // The sandbox's first process is bash, which copies inputs with cp, collects with tar and lowers
  // priority with nice: a Debian or Ubuntu based image has them all (Alpine needs bash added).
  const missing: string[] = [];
  for (const program of ['bash', 'cp', 'tar', 'nice']) {
    const found = await Promise.any([access(path.join(root, 'usr/bin', program)), access(path.join(root, 'bin', program))]).then(() => true, () => false);
    if (!found) missing.push(program);
  }
  if (missing.length) throw new BuildError(`environment: oci: the image in ${at} has no ${missing.join(', ')} in /usr/bin or /bin: the sandbox needs bash and coreutils' cp and nice, and tar (a Debian or Ubuntu based image has them)`);
}

/** Leftovers of builds cut off by a crash. */
export async function sweepBuilds(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith('.build-')) await rm(path.join(dir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

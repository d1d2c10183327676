import fs from 'node:fs/promises';
import path from 'node:path';
import type { SandboxRequest } from './types.js';
import { relPath } from './request.js';
import { checkInputKind, SANDBOX_ETC_FILES, type BwrapPlanInput, type PlanInputs } from './plan.js';
import { customRootArgs, rootHasFile } from './host.js';

/**
 * The host-side work before a bwrap run, in the order the plan needs it: reading a custom root,
 * staging the inputs and files in the run dir (or finding out what each input is), finding the
 * hidden files that exist, and handing the run dir to the sandbox user. What it finds is what
 * bwrapPlan (plan.ts) builds the arguments from.
 */

export type PreparedRun = Pick<BwrapPlanInput, 'rootArgs' | 'rootEtcFiles' | 'inputs' | 'hidden'>;

export async function chownTree(root: string, owner: { uid: number; gid: number }): Promise<void> {
  await fs.lchown(root, owner.uid, owner.gid);
  const entries = await fs.readdir(root, { withFileTypes: true, recursive: true });
  for (const entry of entries) {
    await fs.lchown(path.join(entry.parentPath, entry.name), owner.uid, owner.gid);
  }
}

/** Writes the request's files into `dir` (the executable ones with mode 0755). */
async function writeFiles(request: SandboxRequest, dir: string): Promise<void> {
  const executable = new Set(request.executable ?? []);
  for (const [name, content] of Object.entries(request.files ?? {})) {
    const target = path.join(dir, relPath(name)!);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, content, { mode: executable.has(name) ? 0o755 : 0o644 });
  }
}

/** Copies inputs and files into `dir` on the host. */
export async function stage(request: SandboxRequest, dir: string): Promise<void> {
  for (const input of request.inputs ?? []) {
    const target = path.join(dir, relPath(input.to)!);
    await fs.cp(input.from, target, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
  }
  await writeFiles(request, dir);
}

/**
 * Prepares a bwrap run. `runDir` exists when the request has inputs or files; `copyInputs` stages
 * them on the host (inputs: 'copy'); `runAs` (server running as root) then owns the run dir.
 */
export async function prepareBwrap(request: SandboxRequest, runDir: string | null, copyInputs: boolean, runAs: { uid: number; gid: number } | null): Promise<PreparedRun> {
  let rootArgs: string[] | undefined;
  let rootEtcFiles: Set<string> | undefined;
  if (request.root) {
    rootArgs = await customRootArgs(request.root);
    rootEtcFiles = new Set();
    for (const name of SANDBOX_ETC_FILES) if (await rootHasFile(request.root, `etc/${name}`)) rootEtcFiles.add(name);
  }
  let inputs: PlanInputs;
  if (runDir && copyInputs) {
    const stageDir = path.join(runDir, 'stage');
    await fs.mkdir(stageDir);
    await stage(request, stageDir);
    inputs = { kind: 'staged', dir: stageDir };
  } else {
    const isDir: boolean[] = [];
    for (const input of request.inputs ?? []) {
      const dir = (await fs.stat(input.from)).isDirectory();
      checkInputKind(input, dir);
      isDir.push(dir);
    }
    let filesDir: string | null = null;
    if (Object.keys(request.files ?? {}).length && runDir) {
      filesDir = path.join(runDir, 'files');
      await fs.mkdir(filesDir);
      await writeFiles(request, filesDir);
    }
    inputs = { kind: 'bound', isDir, filesDir };
  }
  const hidden: string[] = [];
  for (const file of request.hide ?? []) if ((await fs.lstat(file).catch(() => null))?.isFile()) hidden.push(file);
  if (runDir && runAs) await chownTree(runDir, runAs);
  return { rootArgs, rootEtcFiles, inputs, hidden };
}

import fs from 'node:fs/promises';
import path from 'node:path';
import type { SandboxLimits, SandboxRequest } from './types.js';
import { bashWrapperArgs, envList, wrapperArgs, type Plan } from './plan.js';
import { chownTree, stage } from './prepare.js';

/**
 * The unsafe mode (development on a host without bubblewrap, LECTERN_UNSAFE_SANDBOX=1): the
 * wrapper runs directly on the host, in a work dir under the run dir, with its rlimits, the
 * server's timers and output cap and a clean environment, but no namespaces and no size limit.
 */

/** The plan of an unsafe run whose work dir is `work` (pure). */
export function unsafePlan(request: SandboxRequest, limits: SandboxLimits, niceness: number, work: string): Plan {
  const env = envList(request, work);
  return {
    file: '/bin/bash',
    args: bashWrapperArgs(wrapperArgs(limits, niceness, [], request, env)),
    cwd: work,
    infoFd: false,
    dropUid: true,
  };
}

/** Host-side copies (there is nothing to bind), then the plan. */
export async function planUnsafe(request: SandboxRequest, limits: SandboxLimits, runDir: string, niceness: number, runAs: { uid: number; gid: number } | null): Promise<Plan> {
  const work = path.join(runDir, 'work');
  await fs.mkdir(work);
  await stage(request, work);
  if (runAs) await chownTree(runDir, runAs);
  return unsafePlan(request, limits, niceness, work);
}

import path from 'node:path';
import type { SandboxLimits, SandboxRequest } from './types.js';

/**
 * What a caller may ask of the sandbox: the default limits, the checks a request must pass
 * (paths, mounts, argv, environment, limits) and the normalising of its paths and limits. Pure:
 * nothing here touches the host.
 */

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  wallMs: 10_000,
  cpuSeconds: 10,
  memoryBytes: 512 * MiB,
  processes: 64,
  fileSizeBytes: 64 * MiB,
  openFiles: 256,
  outputBytes: 1 * MiB,
  workDirBytes: 128 * MiB,
});

/** Where the sandbox's own mounts live: a bind may not cover them. */
const RESERVED_MOUNTS = /^\/(usr|bin|sbin|lib\w*|etc|proc|dev|tmp|work|\.in)(\/|$)/;

const SAFE_REL = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[^\0]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A work dir is one new folder under / (Gradescope's /autograder, PrairieLearn's /grade), never a system one. */
const WORK_DIR = /^\/(?!(?:usr|bin|sbin|lib|lib32|lib64|libx32|etc|proc|dev|tmp|sys|run|var|root|boot|\.in)$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** A relative path inside the work dir, normalised ("." for the top), or null when it is not one. */
export function relPath(p: string): string | null {
  if (typeof p !== 'string' || !SAFE_REL.test(p) || p.length > 1024) return null;
  const n = path.posix.normalize(p);
  if (n.startsWith('../') || n === '..' || n.startsWith('/')) return null;
  return n.replace(/\/$/, '') || '.';
}

/** What is wrong with a request (the first problem found), or null when it may run. */
export function validateRequest(req: SandboxRequest): string | null {
  if (!Array.isArray(req.command) || req.command.length === 0) return 'the command is empty';
  if (req.command.some((a) => typeof a !== 'string' || a.includes('\0'))) return 'the command must be a list of strings without NUL bytes';
  for (const input of req.inputs ?? []) {
    if (typeof input.from !== 'string' || !path.isAbsolute(input.from)) return `input "${String(input.from)}" must be an absolute host path`;
    if (relPath(input.to) === null) return `input target "${String(input.to)}" must be a relative path inside the work dir`;
  }
  for (const bind of req.binds ?? []) {
    if (typeof bind.from !== 'string' || !path.isAbsolute(bind.from)) return `bind "${String(bind.from)}" must be an absolute host path`;
    const to = typeof bind.to === 'string' ? path.posix.normalize(bind.to) : '';
    if (!/^\/[A-Za-z0-9._-]/.test(to) || to.includes('/../') || RESERVED_MOUNTS.test(to)) return `bind target "${String(bind.to)}" must be an absolute path outside the system and work dirs`;
  }
  for (const file of req.hide ?? []) {
    if (typeof file !== 'string' || file.includes('\0') || path.posix.normalize(file) !== file || !file.startsWith('/usr/')) return `hidden file "${String(file)}" must be a normalised absolute path under /usr`;
  }
  for (const name of Object.keys(req.files ?? {})) {
    const rel = relPath(name);
    if (rel === null || rel === '.') return `file name "${name}" must be a relative path inside the work dir`;
  }
  for (const name of req.collect ?? []) {
    const rel = relPath(name);
    if (rel === null || rel === '.') return `collected path "${name}" must be a relative path inside the work dir`;
  }
  for (const [name, value] of Object.entries(req.env ?? {})) {
    if (!ENV_NAME.test(name)) return `environment variable name "${name}" is not valid`;
    if (typeof value !== 'string' || value.includes('\0')) return `environment variable ${name} must be a string without NUL bytes`;
  }
  for (const [name, value] of Object.entries(req.limits ?? {})) {
    if (!(name in DEFAULT_LIMITS)) return `unknown limit "${name}"`;
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return `limit ${name} must be a positive number`;
  }
  if (req.workDir !== undefined && !WORK_DIR.test(req.workDir)) return `work dir "${String(req.workDir)}" must be a folder like /work, directly under / and not a system folder`;
  if (req.root !== undefined && (typeof req.root !== 'string' || !path.isAbsolute(req.root))) return 'root must be an absolute host path';
  for (const b of req.binds ?? []) {
    if (typeof b.from !== 'string' || !path.isAbsolute(b.from)) return `bind "${String(b.from)}" must be an absolute host path`;
    if (typeof b.to !== 'string' || !path.isAbsolute(b.to) || b.to.split('/').includes('..') || /^\/(proc|dev|tmp|\.in)(\/|$)/.test(b.to) || b.to === (req.workDir ?? '/work') || b.to.startsWith(`${req.workDir ?? '/work'}/`)) {
      return `bind target "${String(b.to)}" must be an absolute path outside /proc, /dev, /tmp and the work dir`;
    }
  }
  if (req.collectBytes !== undefined && !(typeof req.collectBytes === 'number' && req.collectBytes >= 0)) return 'collectBytes must be a number of bytes';
  return null;
}

/** Limits with the ones given (leaving out those given as undefined) over the defaults. */
export function mergeLimits(base: SandboxLimits, over: Partial<SandboxLimits> | undefined): SandboxLimits {
  const merged = { ...base };
  for (const [name, value] of Object.entries(over ?? {}) as Array<[keyof SandboxLimits, number | undefined]>) {
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) merged[name] = value;
  }
  return merged;
}

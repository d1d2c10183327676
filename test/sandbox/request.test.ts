// Unit tests of what a caller may ask of the sandbox (src/lib/sandbox/request.ts).
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, mergeLimits, relPath, validateRequest } from '../../src/lib/sandbox/request.js';
import type { SandboxRequest } from '../../src/lib/sandbox/types.js';

const ok: SandboxRequest = { command: ['true'] };

describe('validateRequest', () => {
  it('accepts a plain command and a full, well-formed request', () => {
    expect(validateRequest(ok)).toBeNull();
    expect(
      validateRequest({
        command: ['python3', 'main.py'],
        inputs: [{ from: '/subs/1', to: '.' }],
        files: { 'a/b.txt': 'x' },
        collect: ['out.json'],
        env: { FOO: 'bar' },
        limits: { wallMs: 1000, cpuSeconds: undefined },
        workDir: '/autograder',
        root: '/envs/py',
        binds: [{ from: '/srv/harness', to: '/lectern' }],
        hide: ['/usr/lib/python3/x.py'],
        collectBytes: 0,
      }),
    ).toBeNull();
  });

  it.each<[SandboxRequest, string]>([
    [{ command: [] }, 'the command is empty'],
    [{ command: ['a\0b'] }, 'the command must be a list of strings without NUL bytes'],
    [{ ...ok, inputs: [{ from: 'rel', to: '.' }] }, 'input "rel" must be an absolute host path'],
    [{ ...ok, inputs: [{ from: '/x', to: '../up' }] }, 'input target "../up" must be a relative path inside the work dir'],
    [{ ...ok, binds: [{ from: '/x', to: '/usr/lib' }] }, 'bind target "/usr/lib" must be an absolute path outside the system and work dirs'],
    [{ ...ok, binds: [{ from: '/x', to: '/autograder/x' }], workDir: '/autograder' }, 'bind target "/autograder/x" must be an absolute path outside /proc, /dev, /tmp and the work dir'],
    [{ ...ok, hide: ['/etc/passwd'] }, 'hidden file "/etc/passwd" must be a normalised absolute path under /usr'],
    [{ ...ok, files: { '.': 'x' } }, 'file name "." must be a relative path inside the work dir'],
    [{ ...ok, collect: ['/etc/passwd'] }, 'collected path "/etc/passwd" must be a relative path inside the work dir'],
    [{ ...ok, env: { '1X': 'y' } }, 'environment variable name "1X" is not valid'],
    [{ ...ok, limits: { swap: 1 } as never }, 'unknown limit "swap"'],
    [{ ...ok, limits: { wallMs: -1 } }, 'limit wallMs must be a positive number'],
    [{ ...ok, workDir: '/usr' }, 'work dir "/usr" must be a folder like /work, directly under / and not a system folder'],
    [{ ...ok, root: 'envs/py' }, 'root must be an absolute host path'],
    [{ ...ok, collectBytes: -1 }, 'collectBytes must be a number of bytes'],
  ])('refuses %j', (request, message) => {
    expect(validateRequest(request)).toBe(message);
  });
});

describe('relPath and mergeLimits', () => {
  it('normalises relative paths and rejects escaping ones', () => {
    expect(relPath('a/./b/')).toBe('a/b');
    expect(relPath('./')).toBe('.');
    expect(relPath('a/../b')).toBeNull();
    expect(relPath('/abs')).toBeNull();
  });

  it('lays the limits given over the defaults, skipping undefined ones', () => {
    expect(mergeLimits(DEFAULT_LIMITS, { wallMs: 5, cpuSeconds: undefined })).toEqual({ ...DEFAULT_LIMITS, wallMs: 5 });
    expect(mergeLimits(DEFAULT_LIMITS, undefined)).toEqual(DEFAULT_LIMITS);
  });
});

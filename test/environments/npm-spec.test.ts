import { describe, expect, it } from 'vitest';
import { parseAssignmentYaml } from '../../src/plugins/assignments/config.js';
import { normaliseSpec, specHash } from '../../src/plugins/environments/environments.js';

function withNpm(list: string[]): ReturnType<typeof parseAssignmentYaml> {
  return parseAssignmentYaml(`title: T
deadline: 2027-06-15T23:59:00+02:00
files: [a.js]
environment:
  npm: ${JSON.stringify(list)}
test:
  command: [/usr/bin/node, tests/run.js]
`);
}

describe('environment: npm:', () => {
  it('takes package names with an optional exact version or semver range, sorted and without repeats', () => {
    const ok = ['is-odd', 'is-odd@3.0.1', '@types/node@20.11.5', 'lodash@^4.17.21', 'left-pad@~1.3.0', 'chalk@>=4.0.0 <5', 'x@1.x || 2.0.0 - 2.1.0', 'semver@*', 'pkg.name_x@1.0.0-beta.1+b2'];
    const { config, problems } = withNpm([...ok, 'is-odd']);
    expect(problems).toEqual([]);
    expect(config!.environment!.npm).toEqual([...new Set(ok)].sort());
  });

  it.each([
    '../x',
    './x',
    '/tmp/x',
    'git+https://github.com/a/b.git',
    'https://example.com/x.tgz',
    'github:a/b',
    'a/b',
    'a b',
    '$(x)',
    '`x`',
    'x;rm -rf /',
    '-g',
    '--registry=http://evil',
    'file:x',
    'x@file:../y',
    'x@npm:y',
    'x@latest',
    'x@1.0.0; rm',
    'X-Upper',
    '.hidden',
    '_under',
    '',
  ])('refuses %j', (spec) => {
    const { config, problems } = withNpm([spec]);
    expect(config).toBeNull();
    expect(problems[0]!.field).toBe('environment.npm.0');
    expect(problems[0]!.message).toMatch(/must be an npm package name/);
  });

  it('is part of the content hash, and an environment without npm keeps the hash it had', () => {
    const base = { debian: ['nodejs'], python: [], npm: [], oci: null, setup: null };
    const without = normaliseSpec(base, []);
    expect(without).not.toHaveProperty('npm');
    const a = specHash(normaliseSpec({ ...base, npm: ['is-odd@3.0.1'] }, []));
    expect(a).not.toBe(specHash(without));
    expect(specHash(normaliseSpec({ ...base, npm: ['is-odd@3.0.1', 'is-odd@3.0.1'] }, []))).toBe(a);
    expect(specHash(normaliseSpec({ ...base, npm: ['is-odd@3.0.0'] }, []))).not.toBe(a);
  });
});

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, takeListenFd } from '../../src/config.js';

describe('config', () => {
  it('has sane defaults', () => {
    const c = loadConfig({}, '/srv/site');
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.dataDir).toBe('/srv/site/data');
    expect(c.contentDir).toBe(path.resolve('/srv/site/examples/course'));
    expect(c.proxy).toBe(false);
    expect(c.queue).toBe('sqlite');
    expect(c.publicUrl).toBe('http://127.0.0.1:8080');
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads every variable', () => {
    const c = loadConfig(
      { LECTERN_PORT: '9000', LECTERN_HOST: '0.0.0.0', LECTERN_DATA: '/var/lib/lectern', LECTERN_CONTENT: 'site', LECTERN_PROXY: 'yes', LECTERN_GRADERS: '3', LECTERN_QUEUE: 'redis://:pw@10.0.0.2:6379' },
      '/srv',
    );
    expect(c).toMatchObject({ port: 9000, host: '0.0.0.0', dataDir: '/var/lib/lectern', contentDir: '/srv/site', proxy: true, graders: 3, queue: 'redis://:pw@10.0.0.2:6379' });
  });

  it.each([
    ['LECTERN_PORT', 'eighty'],
    ['LECTERN_PORT', '70000'],
    ['LECTERN_PORT', '-1'],
    ['LECTERN_PROXY', 'maybe'],
    ['LECTERN_HOST', 'bad host!'],
    ['LECTERN_QUEUE', 'postgres://x'],
    ['LECTERN_LOG_LEVEL', 'loud'],
    ['LECTERN_PUBLIC_URL', 'ftp://x'],
    ['LECTERN_OIDC', '{not json'],
    ['LECTERN_OIDC', '[{"id":"g"}]'],
    ['NODE_ENV', 'staging'],
  ])('a bad %s (%s) stops start-up with a message naming it', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(name);
    expect((error as Error).message).toContain(name);
  });

  it('parses OIDC providers', () => {
    const c = loadConfig({ LECTERN_OIDC: JSON.stringify([{ id: 'uni', name: 'University', issuer: 'https://login.example.edu/realms/x', clientId: 'lectern', clientSecret: 's' }]) });
    expect(c.oidc).toEqual([{ id: 'uni', name: 'University', issuer: 'https://login.example.edu/realms/x', clientId: 'lectern', clientSecret: 's' }]);
  });

  it('takes the socket-activation fd only when LISTEN_PID is this process, and clears the variables', () => {
    const env: Record<string, string | undefined> = { LISTEN_FDS: '1', LISTEN_PID: String(process.pid), LISTEN_FDNAMES: 'web' };
    expect(takeListenFd(env, process.pid)).toBe(3);
    expect(env).toEqual({});
    const other: Record<string, string | undefined> = { LISTEN_FDS: '1', LISTEN_PID: '1' };
    expect(takeListenFd(other, process.pid)).toBeNull();
    expect(other).toEqual({});
    expect(takeListenFd({}, process.pid)).toBeNull();
  });
});

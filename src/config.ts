import { cpus, hostname } from 'node:os';
import path from 'node:path';

/**
 * The one place that reads the environment. Everything else receives a frozen Config,
 * so a test can build any configuration without touching process.env.
 */
export interface OidcProviderConfig {
  /** Short id used in URLs: /auth/oidc/<id>/... */
  id: string;
  /** Label on the login button. */
  name: string;
  issuer: string;
  clientId: string;
  clientSecret?: string;
}

/** Outgoing mail over SMTP (src/plugins/mail); null: no mail, staff hand out links themselves. */
export interface MailConfig {
  host: string;
  port: number;
  /** true: TLS from the first byte (port 465); false: STARTTLS when the server offers it. */
  secure: boolean;
  user?: string;
  password?: string;
  /** The From address, e.g. "Lectern <lectern@uni.example>". */
  from: string;
  /** First retry after this long; each further one waits twice as long (capped at 6 hours). */
  retryMs: number;
  /** Tries before a message is marked failed. */
  maxAttempts: number;
  /** How often the outbox is looked at for due messages. */
  pollMs: number;
}

/**
 * A plain OAuth 2.0 provider (no ID token): the user is who its userinfo endpoint says. GitHub,
 * Facebook and X are presets that fill in the endpoints and how their answers are read.
 */
export interface OAuthProviderConfig {
  id: string;
  name: string;
  preset: 'github' | 'facebook' | 'x' | 'generic';
  clientId: string;
  clientSecret?: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  userinfoEndpoint: string;
  /** GitHub: the list of the user's addresses with their verified flags. */
  emailsEndpoint?: string;
  scope: string;
  /** Dotted paths into the userinfo answer. */
  subjectField: string;
  emailField: string;
  nameField: string;
  /**
   * How a verified address is recognised: a dotted path to a boolean in userinfo, "always" for a
   * provider that only ever returns confirmed addresses, or "emails-endpoint" (GitHub).
   */
  emailVerified: string;
  /** How the client authenticates at the token endpoint. */
  tokenAuth: 'client_secret_basic' | 'client_secret_post';
}

export interface Config {
  env: 'production' | 'development' | 'test';
  host: string;
  port: number;
  /** Absolute path of the data directory (database, blobs, tokens). */
  dataDir: string;
  /** Absolute path of the content folder (courses). */
  contentDir: string;
  /** A reverse proxy on this host is in front: every peer looks like loopback. */
  proxy: boolean;
  /**
   * How many proxies in front append to X-Forwarded-For (0 without a proxy). Exactly that many
   * entries, counted from the right, are believed; anything a client put before them is ignored.
   */
  proxyHops: number;
  /** Every /restart must carry the token, even from loopback without a proxy. */
  restartTokenAlways: boolean;
  /** A request's headers must be complete within this many ms (src/lib/http-server.ts). */
  headersTimeoutMs: number;
  /** A request body that sends nothing for this long is cut off; one that keeps moving may take any time. */
  bodyIdleMs: number;
  /** Open connections per client address (IPv6: per /64); 0 = no cap. Not applied to a proxy on loopback. */
  maxConnectionsPerAddress: number;
  /** Public base URL (for links in e-mails, OIDC redirects); derived from host:port when unset. */
  publicUrl: string;
  /** Whether the operator set LECTERN_PUBLIC_URL (false: derived from host and port). */
  publicUrlSet: boolean;
  logLevel: string;
  /** How long a drain may take before connections are cut (ms). */
  drainMs: number;
  /**
   * The respawn loop (deploy/webservice) that started this server, told with SIGUSR1 when a
   * restart has stopped accepting, so it starts the next server while this one drains. 0: none.
   */
  handoffPid: number;
  /** Memory for rendered course pages kept for repeat views (src/plugins/pages/render-cache.ts); 0 turns it off. */
  pageCacheMb: number;
  /** Grading concurrency on this machine. */
  graders: number;
  /** Free space (MB) kept on the data dir's disk: below it uploads are refused with 503 before they are read. */
  diskReserveMb: number;
  /** "sqlite" (embedded, default) or a redis:// URL. */
  queue: string;
  /** Web worker processes (node:cluster); 1 = no cluster. */
  workers: number;
  /** `lectern worker` (Redis mode): grading jobs run at once by this worker process. */
  workerConcurrency: number;
  /** `lectern worker`: the name shown on the lecturer's dashboard (default: the host name). */
  workerName: string;
  /** Redis mode: BullMQ lock of a running job (ms); a worker silent this long is presumed dead. */
  redisLockMs: number;
  /** Redis mode: how often workers look for jobs whose worker died (BullMQ stalled check, ms). */
  redisStalledMs: number;
  /** Redis mode: how often the web server reconciles its jobs rows with Redis (ms). */
  redisSyncMs: number;
  /** Redis mode: largest job payload (submission files plus the bundle's tests) sent to workers. */
  redisPayloadBytes: number;
  /** The most an assignment's `bundle: max_files / max_size` may raise its bundle's caps to. */
  bundleMaxFiles: number;
  bundleMaxBytes: number;
  /** Run student code without bubblewrap. Never for real students. */
  unsafeSandbox: boolean;
  /** Self-check each imported bundle version in the background (reference solution, hostile submissions). */
  selfCheck: boolean;
  /** Bearer token that opens /metrics to any peer; '' = loopback only (and only without a proxy). */
  metricsToken: string;
  /** `lectern worker`: port of its own /metrics on loopback (0 = none). */
  workerMetricsPort: number;
  /** The dashboard warns when a coming deadline's burst would keep a student waiting longer than this for a result (minutes). */
  forecastTargetMinutes: number;
  oidc: OidcProviderConfig[];
  oauth: OAuthProviderConfig[];
  mail: MailConfig | null;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  return v;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(name, `expected yes/no (1/0, true/false), got "${raw}"`);
}

/** LECTERN_PROXY: no, yes (one proxy), or the number of proxies in front (1-10). */
function proxyHops(env: Env): number {
  const raw = (env.LECTERN_PROXY ?? '').trim().toLowerCase();
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    if (n > 10) throw new ConfigError('LECTERN_PROXY', `at most 10 proxies in front, got ${n}`);
    return n;
  }
  try {
    return bool(env, 'LECTERN_PROXY', false) ? 1 : 0;
  } catch {
    throw new ConfigError('LECTERN_PROXY', `expected no, yes, or the number of proxies in front (1-10), got "${env.LECTERN_PROXY}"`);
  }
}

function parseOidc(env: Env): OidcProviderConfig[] {
  const raw = env.LECTERN_OIDC;
  if (raw === undefined || raw.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('LECTERN_OIDC', 'must be a JSON array of {id, name, issuer, clientId, clientSecret}');
  }
  if (!Array.isArray(parsed)) throw new ConfigError('LECTERN_OIDC', 'must be a JSON array');
  const seen = new Set<string>();
  return parsed.map((p: unknown, i: number) => {
    const o = (p ?? {}) as Record<string, unknown>;
    for (const key of ['id', 'issuer', 'clientId'] as const) {
      if (typeof o[key] !== 'string' || o[key] === '') {
        throw new ConfigError('LECTERN_OIDC', `provider ${i + 1} needs a "${key}" string`);
      }
    }
    const id = o.id as string;
    if (!/^[a-z0-9-]{1,32}$/.test(id)) throw new ConfigError('LECTERN_OIDC', `provider id "${id}" must be lowercase letters, digits and dashes`);
    if (seen.has(id)) throw new ConfigError('LECTERN_OIDC', `provider id "${id}" is used twice`);
    seen.add(id);
    try {
      new URL(o.issuer as string);
    } catch {
      throw new ConfigError('LECTERN_OIDC', `provider "${id}" issuer is not a URL`);
    }
    return {
      id,
      name: typeof o.name === 'string' && o.name ? o.name : id,
      issuer: o.issuer as string,
      clientId: o.clientId as string,
      ...(typeof o.clientSecret === 'string' ? { clientSecret: o.clientSecret } : {}),
    };
  });
}

const OAUTH_PRESETS: Record<Exclude<OAuthProviderConfig['preset'], 'generic'>, Omit<OAuthProviderConfig, 'id' | 'clientId' | 'clientSecret' | 'preset'>> = {
  github: {
    name: 'GitHub',
    authorizationEndpoint: 'https://github.com/login/oauth/authorize',
    tokenEndpoint: 'https://github.com/login/oauth/access_token',
    userinfoEndpoint: 'https://api.github.com/user',
    emailsEndpoint: 'https://api.github.com/user/emails',
    scope: 'read:user user:email',
    subjectField: 'id',
    emailField: 'email',
    nameField: 'name',
    emailVerified: 'emails-endpoint',
    tokenAuth: 'client_secret_post',
  },
  // The Graph API returns an address only once its owner has confirmed it.
  facebook: {
    name: 'Facebook',
    authorizationEndpoint: 'https://www.facebook.com/v19.0/dialog/oauth',
    tokenEndpoint: 'https://graph.facebook.com/v19.0/oauth/access_token',
    userinfoEndpoint: 'https://graph.facebook.com/me?fields=id,name,email',
    scope: 'public_profile email',
    subjectField: 'id',
    emailField: 'email',
    nameField: 'name',
    emailVerified: 'always',
    tokenAuth: 'client_secret_post',
  },
  // X gives the address only as confirmed_email (scope users.email), i.e. confirmed by its owner.
  x: {
    name: 'X',
    authorizationEndpoint: 'https://x.com/i/oauth2/authorize',
    tokenEndpoint: 'https://api.x.com/2/oauth2/token',
    userinfoEndpoint: 'https://api.x.com/2/users/me?user.fields=confirmed_email',
    scope: 'users.read tweet.read users.email',
    subjectField: 'data.id',
    emailField: 'data.confirmed_email',
    nameField: 'data.name',
    emailVerified: 'always',
    tokenAuth: 'client_secret_basic',
  },
};

/** http:// only for a provider on this machine (development, tests). */
function oauthUrl(id: string, field: string, value: unknown): string {
  const fail = () => new ConfigError('LECTERN_OAUTH', `provider "${id}": ${field} must be an https URL`);
  if (typeof value !== 'string') throw fail();
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw fail();
  }
  const loopback = u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  if (u.protocol !== 'https:' && !loopback) throw fail();
  return u.href;
}

function parseOauth(env: Env, oidc: OidcProviderConfig[]): OAuthProviderConfig[] {
  const raw = env.LECTERN_OAUTH;
  if (raw === undefined || raw.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('LECTERN_OAUTH', 'must be a JSON array of {id, preset or endpoints, clientId, clientSecret}');
  }
  if (!Array.isArray(parsed)) throw new ConfigError('LECTERN_OAUTH', 'must be a JSON array');
  const seen = new Set(oidc.map((p) => p.id));
  return parsed.map((p: unknown, i: number) => {
    const o = (p ?? {}) as Record<string, unknown>;
    const str = (key: string): string | undefined => (typeof o[key] === 'string' && o[key] !== '' ? (o[key] as string) : undefined);
    const preset = (str('preset') ?? 'generic') as OAuthProviderConfig['preset'];
    if (!['github', 'facebook', 'x', 'generic'].includes(preset)) throw new ConfigError('LECTERN_OAUTH', `provider ${i + 1}: preset must be github, facebook, x or generic`);
    const id = str('id') ?? (preset === 'generic' ? undefined : preset);
    if (!id) throw new ConfigError('LECTERN_OAUTH', `provider ${i + 1} needs an "id" string`);
    if (!/^[a-z0-9-]{1,32}$/.test(id)) throw new ConfigError('LECTERN_OAUTH', `provider id "${id}" must be lowercase letters, digits and dashes`);
    if (seen.has(id)) throw new ConfigError('LECTERN_OAUTH', `provider id "${id}" is used twice (LECTERN_OIDC and LECTERN_OAUTH share one list of ids)`);
    seen.add(id);
    const clientId = str('clientId');
    if (!clientId) throw new ConfigError('LECTERN_OAUTH', `provider "${id}" needs a "clientId" string`);
    const base = preset === 'generic' ? undefined : OAUTH_PRESETS[preset];
    const pick = (key: keyof typeof OAUTH_PRESETS.github, fallback?: string): string => {
      const v = str(key) ?? (base?.[key] as string | undefined) ?? fallback;
      if (v === undefined) throw new ConfigError('LECTERN_OAUTH', `provider "${id}" needs "${key}" (or a preset)`);
      return v;
    };
    const tokenAuth = pick('tokenAuth', 'client_secret_basic');
    if (tokenAuth !== 'client_secret_basic' && tokenAuth !== 'client_secret_post') throw new ConfigError('LECTERN_OAUTH', `provider "${id}": tokenAuth must be client_secret_basic or client_secret_post`);
    const emailsEndpoint = str('emailsEndpoint') ?? base?.emailsEndpoint;
    const emailVerified = pick('emailVerified', 'email_verified');
    if (emailVerified === 'emails-endpoint' && !emailsEndpoint) throw new ConfigError('LECTERN_OAUTH', `provider "${id}": emailVerified "emails-endpoint" needs an "emailsEndpoint"`);
    return {
      id,
      name: pick('name', id),
      preset,
      clientId,
      ...(str('clientSecret') ? { clientSecret: str('clientSecret')! } : {}),
      authorizationEndpoint: oauthUrl(id, 'authorizationEndpoint', pick('authorizationEndpoint')),
      tokenEndpoint: oauthUrl(id, 'tokenEndpoint', pick('tokenEndpoint')),
      userinfoEndpoint: oauthUrl(id, 'userinfoEndpoint', pick('userinfoEndpoint')),
      ...(emailsEndpoint ? { emailsEndpoint: oauthUrl(id, 'emailsEndpoint', emailsEndpoint) } : {}),
      scope: pick('scope', 'openid email profile'),
      subjectField: pick('subjectField', 'sub'),
      emailField: pick('emailField', 'email'),
      nameField: pick('nameField', 'name'),
      emailVerified,
      tokenAuth,
    };
  });
}

function parseMail(env: Env): MailConfig | null {
  const host = str(env, 'LECTERN_SMTP_HOST', '').trim();
  if (!host) return null;
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(host)) throw new ConfigError('LECTERN_SMTP_HOST', `not a host name or address: "${host}"`);
  const secure = bool(env, 'LECTERN_SMTP_SECURE', false);
  const from = str(env, 'LECTERN_MAIL_FROM', '').trim();
  if (!from) throw new ConfigError('LECTERN_MAIL_FROM', 'set the sender address (e.g. "Lectern <lectern@uni.example>") when LECTERN_SMTP_HOST is set');
  if (!/@/.test(from) || /[\r\n]/.test(from)) throw new ConfigError('LECTERN_MAIL_FROM', `not an address: "${from}"`);
  const user = str(env, 'LECTERN_SMTP_USER', '');
  const password = str(env, 'LECTERN_SMTP_PASSWORD', '');
  if (password && !user) throw new ConfigError('LECTERN_SMTP_USER', 'LECTERN_SMTP_PASSWORD is set but the user name is not');
  return {
    host,
    port: int(env, 'LECTERN_SMTP_PORT', secure ? 465 : 587, 1, 65535),
    secure,
    ...(user ? { user } : {}),
    ...(password ? { password } : {}),
    from,
    retryMs: int(env, 'LECTERN_MAIL_RETRY_MS', 60_000, 10, 3_600_000),
    maxAttempts: int(env, 'LECTERN_MAIL_ATTEMPTS', 10, 1, 100),
    pollMs: int(env, 'LECTERN_MAIL_POLL_MS', 2_000, 10, 600_000),
  };
}

function workerName(env: Env): string {
  const name = str(env, 'LECTERN_WORKER_NAME', hostname());
  if (!/^[A-Za-z0-9._-]{1,253}$/.test(name)) throw new ConfigError('LECTERN_WORKER_NAME', `use letters, digits, dots, dashes and underscores, got "${name}"`);
  return name;
}

function metricsToken(env: Env): string {
  const token = str(env, 'LECTERN_METRICS_TOKEN', '').trim();
  // A short token could be guessed by anyone who can reach the port.
  if (token !== '' && !/^[\x21-\x7e]{24,}$/.test(token)) throw new ConfigError('LECTERN_METRICS_TOKEN', 'use at least 24 printable characters without spaces (e.g. openssl rand -hex 24)');
  return token;
}

export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const nodeEnv = str(env, 'NODE_ENV', 'production');
  if (!['production', 'development', 'test'].includes(nodeEnv)) {
    throw new ConfigError('NODE_ENV', `expected production, development or test, got "${nodeEnv}"`);
  }
  const host = str(env, 'LECTERN_HOST', '127.0.0.1');
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(host)) throw new ConfigError('LECTERN_HOST', `not a host name or address: "${host}"`);
  const port = int(env, 'LECTERN_PORT', 8080, 0, 65535);
  const publicUrlRaw = str(env, 'LECTERN_PUBLIC_URL', '');
  let publicUrl: string;
  if (publicUrlRaw) {
    try {
      const u = new URL(publicUrlRaw);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
      publicUrl = u.toString().replace(/\/$/, '');
    } catch {
      throw new ConfigError('LECTERN_PUBLIC_URL', `expected an http(s) URL, got "${publicUrlRaw}"`);
    }
  } else {
    const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    publicUrl = `http://${h === '0.0.0.0' ? '127.0.0.1' : h}:${port}`;
  }
  const queue = str(env, 'LECTERN_QUEUE', 'sqlite');
  if (queue !== 'sqlite' && !/^rediss?:\/\//.test(queue)) {
    throw new ConfigError('LECTERN_QUEUE', `expected "sqlite" or a redis:// URL, got "${queue}"`);
  }
  const logLevel = str(env, 'LECTERN_LOG_LEVEL', nodeEnv === 'test' ? 'silent' : 'info');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('LECTERN_LOG_LEVEL', `expected one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`);
  }
  const config: Config = {
    env: nodeEnv as Config['env'],
    host,
    port,
    dataDir: path.resolve(cwd, str(env, 'LECTERN_DATA', 'data')),
    contentDir: path.resolve(cwd, str(env, 'LECTERN_CONTENT', 'examples/course')),
    proxy: proxyHops(env) > 0,
    proxyHops: proxyHops(env),
    restartTokenAlways: bool(env, 'LECTERN_RESTART_TOKEN', false),
    headersTimeoutMs: int(env, 'LECTERN_HEADERS_TIMEOUT_MS', 20_000, 1_000, 600_000),
    bodyIdleMs: int(env, 'LECTERN_BODY_IDLE_MS', 60_000, 1_000, 3_600_000),
    maxConnectionsPerAddress: int(env, 'LECTERN_MAX_CONNECTIONS_PER_ADDRESS', 2048, 0, 1_000_000),
    publicUrl,
    publicUrlSet: publicUrlRaw !== '',
    logLevel,
    drainMs: int(env, 'LECTERN_DRAIN_MS', 10_000, 0, 600_000),
    handoffPid: int(env, 'LECTERN_HANDOFF_PID', 0, 0, 2 ** 22),
    pageCacheMb: int(env, 'LECTERN_PAGE_CACHE_MB', 16, 0, 4096),
    graders: int(env, 'LECTERN_GRADERS', Math.max(1, cpus().length), 0, 256),
    diskReserveMb: int(env, 'LECTERN_DISK_RESERVE_MB', 256, 0, 1_048_576),
    queue,
    workers: int(env, 'LECTERN_WORKERS', 1, 1, 64),
    workerConcurrency: int(env, 'LECTERN_WORKER_CONCURRENCY', Math.max(1, cpus().length), 1, 256),
    workerName: workerName(env),
    redisLockMs: int(env, 'LECTERN_REDIS_LOCK_MS', 30_000, 500, 3_600_000),
    redisStalledMs: int(env, 'LECTERN_REDIS_STALLED_MS', 30_000, 200, 3_600_000),
    redisSyncMs: int(env, 'LECTERN_REDIS_SYNC_MS', 2_000, 50, 600_000),
    redisPayloadBytes: int(env, 'LECTERN_REDIS_PAYLOAD_BYTES', 64 * 1024 ** 2, 1024, 512 * 1024 ** 2),
    // Between the default caps every bundle has and the hard ceiling of assignment.yaml.
    bundleMaxFiles: int(env, 'LECTERN_BUNDLE_MAX_FILES', 20_000, 2_000, 20_000),
    bundleMaxBytes: int(env, 'LECTERN_BUNDLE_MAX_BYTES', 1024 ** 3, 100 * 1024 ** 2, 1024 ** 3),
    unsafeSandbox: bool(env, 'LECTERN_UNSAFE_SANDBOX', false),
    // Off by default under test: a test that wants it turns it on (it runs sandboxes in the background).
    selfCheck: bool(env, 'LECTERN_SELF_CHECK', env.NODE_ENV !== 'test'),
    metricsToken: metricsToken(env),
    workerMetricsPort: int(env, 'LECTERN_WORKER_METRICS_PORT', 0, 0, 65535),
    forecastTargetMinutes: int(env, 'LECTERN_FORECAST_TARGET_MINUTES', 10, 1, 1440),
    oidc: parseOidc(env),
    oauth: parseOauth(env, parseOidc(env)),
    mail: parseMail(env),
  };
  return Object.freeze(config);
}

/** A config for tests and tools: defaults, then the given overrides. */
export function makeConfig(overrides: Partial<Config> = {}, cwd = process.cwd()): Config {
  return Object.freeze({ ...loadConfig({ NODE_ENV: 'test' }, cwd), ...overrides });
}

/**
 * systemd socket activation: when LISTEN_PID names this process, the listening socket is fd 3.
 * The variables are removed so that child processes (sandboxes, workers) never think the
 * socket is theirs.
 */
export function takeListenFd(env: Env = process.env, pid: number = process.pid): number | null {
  const fds = env.LISTEN_FDS;
  const forPid = env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (!fds || !forPid) return null;
  if (Number(forPid) !== pid) return null;
  const n = Number(fds);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError('LISTEN_FDS', `expected a count of sockets, got "${fds}"`);
  return 3;
}

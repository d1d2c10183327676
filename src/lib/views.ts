import nunjucks from 'nunjucks';
import { VIEWS_DIR } from '../paths.js';


export interface Views {
  env: nunjucks.Environment;
  render(name: string, vars: Record<string, unknown>): string;
}

export interface ViewOptions {
  dir?: string;
  /** Re-read templates on every render (development). */
  watch?: boolean;
  /** Maps "css/lectern.css" to its fingerprinted URL. */
  assetUrl?: (file: string) => string;
  timezone?: string;
}

export function createViews(options: ViewOptions = {}): Views {
  const loader = new nunjucks.FileSystemLoader(options.dir ?? VIEWS_DIR, { noCache: options.watch ?? false });
  const env = new nunjucks.Environment(loader, { autoescape: true, throwOnUndefined: false, trimBlocks: true, lstripBlocks: true });
  env.addGlobal('asset', options.assetUrl ?? ((f: string) => `/static/${f}`));
  env.addFilter('datetime', (ms: unknown, tz?: string) => formatDateTime(ms, tz ?? options.timezone ?? 'UTC'));
  env.addFilter('iso', (ms: unknown) => (typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : ''));
  env.addFilter('json', (v: unknown) => new nunjucks.runtime.SafeString(JSON.stringify(v).replace(/</g, '\\u003c')));
  return {
    env,
    render: (name, vars) => env.render(name, vars),
  };
}

/** One formatter per time zone: making an Intl.DateTimeFormat costs far more than formatting with one. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZoneName: 'short',
    });
    // Zones come from course.yaml files and the code: a handful.
    if (formatters.size < 1000) formatters.set(timeZone, f);
  }
  return f;
}

export function formatDateTime(ms: unknown, timeZone = 'UTC'): string {
  if (ms === null || ms === undefined || ms === '') return '';
  const d = new Date(typeof ms === 'number' ? ms : String(ms));
  if (Number.isNaN(d.getTime())) return '';
  return formatterFor(timeZone).format(d);
}

import type { RequestObserver } from '../../plugin.js';

/** Methods outside this set (Node accepts a few dozen) share one label. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
export const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface RouteStats {
  method: string;
  route: string;
  statuses: Map<number, number>;
  /** Per bucket (not cumulative), the last one for +Inf. */
  buckets: number[];
  sum: number;
  count: number;
}

interface Sample {
  labels: Record<string, string>;
  value: number;
  metricName?: string;
}

/** What prom-client's Registry reads from a metric it did not make (registerMetric). */
export interface CustomMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: 'sum' }>;
  reset(): void;
}

/**
 * Request counts and latencies, counted on every request: prom-client's own Counter and
 * Histogram validate and hash their label object on every observation (about 10 µs a request
 * together in a profile of the static file), so this keeps plain numbers per route and hands
 * prom-client the finished series when Prometheus scrapes.
 */
export function requestMetrics(): { observe: RequestObserver; counter: CustomMetric; histogram: CustomMetric } {
  const stats = new Map<string, RouteStats>();
  const observe: RequestObserver = (methodIn, route, status, seconds) => {
    const method = METHODS.has(methodIn) ? methodIn : 'other';
    const key = `${method} ${route}`;
    let s = stats.get(key);
    if (!s) stats.set(key, (s = { method, route, statuses: new Map(), buckets: new Array<number>(HTTP_BUCKETS.length + 1).fill(0), sum: 0, count: 0 }));
    s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
    let i = 0;
    while (i < HTTP_BUCKETS.length && seconds > HTTP_BUCKETS[i]!) i++;
    s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
  };
  const counterName = 'lectern_http_requests_total';
  const counterHelp = 'HTTP requests answered, by method, route pattern and status.';
  const histName = 'lectern_http_request_duration_seconds';
  const histHelp = 'Time from receiving a request to the end of its response, by method and route pattern.';
  const counter: CustomMetric = {
    name: counterName,
    help: counterHelp,
    type: 'counter',
    aggregator: 'sum',
    get: async () => {
      const values: Sample[] = [];
      for (const s of stats.values()) for (const [status, n] of s.statuses) values.push({ labels: { method: s.method, route: s.route, status: String(status) }, value: n });
      return { name: counterName, help: counterHelp, type: 'counter', values, aggregator: 'sum' };
    },
    reset: () => stats.clear(),
  };
  const histogram: CustomMetric = {
    name: histName,
    help: histHelp,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const values: Sample[] = [];
      for (const s of stats.values()) {
        let cumulative = 0;
        HTTP_BUCKETS.forEach((le, i) => {
          cumulative += s.buckets[i]!;
          values.push({ metricName: `${histName}_bucket`, labels: { le: String(le), method: s.method, route: s.route }, value: cumulative });
        });
        values.push({ metricName: `${histName}_bucket`, labels: { le: '+Inf', method: s.method, route: s.route }, value: s.count });
        values.push({ metricName: `${histName}_sum`, labels: { method: s.method, route: s.route }, value: s.sum });
        values.push({ metricName: `${histName}_count`, labels: { method: s.method, route: s.route }, value: s.count });
      }
      return { name: histName, help: histHelp, type: 'histogram', values, aggregator: 'sum' };
    },
    reset: () => stats.clear(),
  };
  return { observe, counter, histogram };
}

import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection for BullMQ and our own keys. BullMQ needs maxRetriesPerRequest: null;
 * `failFast` makes commands fail at once while disconnected instead of queueing in memory, which
 * the web server wants (it must never wait on Redis) and a worker does not.
 */
export function connect(url: string, options: { failFast?: boolean; name: string }): Redis {
  const opts: RedisOptions = {
    maxRetriesPerRequest: null,
    enableOfflineQueue: !options.failFast,
    connectionName: options.name,
    // Keep trying for ever, at most every 2 s: Redis coming back is the normal end of an outage.
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    connectTimeout: 5_000,
  };
  return new Redis(url, opts);
}

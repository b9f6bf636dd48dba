import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisEnv } from './config.js';
import type { RedisHealth } from './redis-health.js';

/** A connection to one Redis (directly or through Sentinel) or to a Redis Cluster; BullMQ takes either. */
export type RedisConnection = Redis | Cluster;

/** Where a process connects when none of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES is set. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface CreateRedisOptions {
  /** Listens to the connection's errors and state: the apps pass their process's one tracker. */
  health?: RedisHealth;
  /**
   * Sends the commands of one turn of the event loop together. Not on a cluster: ioredis 5.11 sends
   * a script call there in the pipeline of the node its key count would hash to, not its first
   * key's, and the pipeline is refused (redis/ioredis#2109).
   */
  enableAutoPipelining?: boolean;
  /** How long to wait before reconnecting after the `times`-th failure, or null to give up (on a cluster: to reach it again). */
  retryStrategy?: (times: number) => number | null;
}

/**
 * The connection `env` describes, fit for BullMQ workers and blocking commands: it never gives up
 * on a request while Redis restarts or fails over (`maxRetriesPerRequest: null`, as BullMQ requires
 * for workers). `env` has passed `requireOneRedisShape`, so at most one shape is set.
 */
export function createRedis(env: RedisEnv, { health, enableAutoPipelining = false, retryStrategy }: CreateRedisOptions = {}): RedisConnection {
  const common: RedisOptions = { maxRetriesPerRequest: null, ...(retryStrategy ? { retryStrategy } : {}) };
  let redis: RedisConnection;
  if (env.REDIS_CLUSTER_NODES) {
    redis = new Cluster(env.REDIS_CLUSTER_NODES, {
      ...RIDE_OUT_FAILOVER,
      ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
      redisOptions: { maxRetriesPerRequest: null, ...dataNodeOptions(env) },
    });
  } else if (env.REDIS_SENTINELS) {
    redis = new Redis({
      ...common,
      enableAutoPipelining,
      sentinels: env.REDIS_SENTINELS,
      name: env.REDIS_SENTINEL_NAME,
      ...(env.REDIS_SENTINEL_PASSWORD !== undefined ? { sentinelPassword: env.REDIS_SENTINEL_PASSWORD } : {}),
      // `tls` is for the primary found (with enableTLSForSentinelMode); `sentinelTLS` for the sentinels.
      ...(env.REDIS_TLS ? { sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
      ...dataNodeOptions(env),
    });
  } else {
    redis = new Redis(env.REDIS_URL ?? DEFAULT_REDIS_URL, { ...common, enableAutoPipelining });
  }
  health?.track(redis);
  return redis;
}

/**
 * While a shard's replica takes over from its dead primary, the cluster answers CLUSTERDOWN (or not
 * at all, then MOVED to the new primary). ioredis retries such a command, but by default only 16
 * times in all, 100 ms apart: a failover of more than about 1.6 s failed every command in flight,
 * and with them the attempts of the runs that sent them. Spaced and counted so, a command waits out
 * a failover of up to a minute, as a command to one Redis waits out its restart.
 */
const RIDE_OUT_FAILOVER = { retryDelayOnFailover: 300, retryDelayOnClusterDown: 300, retryDelayOnMoved: 50, maxRedirections: 200 } as const;

/** Credentials and TLS of the data nodes found through Sentinel or Cluster (a REDIS_URL carries its own). */
function dataNodeOptions(env: RedisEnv): RedisOptions {
  return {
    ...(env.REDIS_USERNAME !== undefined ? { username: env.REDIS_USERNAME } : {}),
    ...(env.REDIS_PASSWORD !== undefined ? { password: env.REDIS_PASSWORD } : {}),
    ...(env.REDIS_TLS ? { tls: {} } : {}),
  };
}

/** Quits a connection, falling back to a hard disconnect when Redis does not answer. */
export async function closeRedis(redis: RedisConnection): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

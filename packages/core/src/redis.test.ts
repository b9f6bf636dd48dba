import type { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { baseEnvSchema, parseEnv, type Env } from './config.js';
import { closeRedis, createRedis, DEFAULT_REDIS_URL, type RedisConnection } from './redis.js';

// What createRedis makes of each shape of configuration. Reaching a real Sentinel and a real
// Cluster through the built apps is tests/e2e/sentinel-connection.test.ts's and
// tests/e2e/cluster.test.ts's; here, what those cannot reach: TLS, and the default.
const open: RedisConnection[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map(closeRedis));
});

function connect(env: Env): RedisConnection {
  const redis = createRedis(parseEnv(baseEnvSchema, env));
  redis.on('error', () => {}); // nothing listens at port 1
  open.push(redis);
  return redis;
}

describe('createRedis', () => {
  it(`connects to ${DEFAULT_REDIS_URL} when no Redis variable is set`, async () => {
    const redis = connect({});

    expect(redis.isCluster).toBe(false);
    expect((redis as Redis).options).toMatchObject({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null });
    expect(await redis.ping()).toBe('PONG');
  });

  it('finds the primary through the sentinels, with the sentinels\' password, and TLS and credentials for both', () => {
    const redis = connect({
      REDIS_SENTINELS: '127.0.0.1:1,[::1]:1',
      REDIS_SENTINEL_NAME: 'drumline-primary',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_USERNAME: 'drumline',
      REDIS_PASSWORD: 'data-secret',
      REDIS_TLS: 'true',
    });

    expect(redis.isCluster).toBe(false);
    expect((redis as Redis).options).toMatchObject({
      sentinels: [
        { host: '127.0.0.1', port: 1 },
        { host: '::1', port: 1 },
      ],
      name: 'drumline-primary',
      sentinelPassword: 'sentinel-secret',
      sentinelTLS: {},
      username: 'drumline',
      password: 'data-secret',
      tls: {},
      enableTLSForSentinelMode: true,
      maxRetriesPerRequest: null,
    });
  });

  it('connects to a cluster, giving every node the credentials and TLS', () => {
    const redis = connect({ REDIS_CLUSTER_NODES: '127.0.0.1:1,127.0.0.1:2', REDIS_USERNAME: 'drumline', REDIS_PASSWORD: 'data-secret', REDIS_TLS: 'true' });

    expect(redis.isCluster).toBe(true);
    expect((redis as Cluster).options.redisOptions).toMatchObject({ username: 'drumline', password: 'data-secret', tls: {}, maxRetriesPerRequest: null });
  });

  it('uses no TLS unless REDIS_TLS says so', () => {
    const sentinel = connect({ REDIS_SENTINELS: '127.0.0.1:1', REDIS_SENTINEL_NAME: 'p' }) as Redis;
    const cluster = connect({ REDIS_CLUSTER_NODES: '127.0.0.1:1', REDIS_TLS: 'false' }) as Cluster;

    expect(sentinel.options.tls).toBeUndefined();
    expect(sentinel.options.sentinelTLS).toBeUndefined();
    expect(cluster.options.redisOptions?.tls).toBeUndefined();
  });
});

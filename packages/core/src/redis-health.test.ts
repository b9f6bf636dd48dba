import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { closeRedis, createRedis } from './redis.js';
import { RedisHealth } from './redis-health.js';

// A connection to a port where nothing listens errs on every retry, as one does during an outage.
const DEAD_URL = 'redis://127.0.0.1:1';

function capturedLogger() {
  const records: { level: number; msg: string; errors?: number }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      records.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), records };
}

const open: ReturnType<typeof createRedis>[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map(closeRedis));
});

describe('RedisHealth', () => {
  it('logs an outage once however many errors its connections and BullMQ emit, and again only after reminderMs', async () => {
    let now = 0;
    const { logger, records } = capturedLogger();
    const health = new RedisHealth({ logger, reminderMs: 30_000, now: () => now });
    const bullmq = new EventEmitter();
    health.watch(bullmq);
    const redis = createRedis({ REDIS_URL: DEAD_URL }, { health, retryStrategy: () => 10 });
    open.push(redis);
    let errors = 0;
    redis.on('error', () => (errors += 1));

    await expect.poll(() => errors, { timeout: 10_000 }).toBeGreaterThanOrEqual(5);
    bullmq.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:1'));
    expect(health.up).toBe(false);
    expect(records.filter((record) => record.level >= 40).map((record) => record.msg)).toEqual(['redis unreachable; retrying']);

    now = 30_000;
    const seen = errors;
    await expect.poll(() => errors, { timeout: 10_000 }).toBeGreaterThan(seen);
    expect(records.filter((record) => record.level >= 40).map((record) => record.msg)).toEqual(['redis unreachable; retrying', 'redis still unreachable; retrying']);
  });

  it('says once that Redis is back when every connection is ready, and reports up', async () => {
    const { logger, records } = capturedLogger();
    const health = new RedisHealth({ logger });
    // Down first (nothing listens), then pointed at the test Redis, as a restarted Redis comes back.
    const redis = createRedis({ REDIS_URL: DEAD_URL }, { health, retryStrategy: () => 10 });
    open.push(redis);
    await expect.poll(() => records.some((record) => record.msg === 'redis unreachable; retrying'), { timeout: 10_000 }).toBe(true);
    (redis as Redis).options.port = 6379;

    await expect.poll(() => health.up, { timeout: 10_000 }).toBe(true);
    expect(records.filter((record) => record.msg === 'redis reachable again')).toHaveLength(1);
  });

  it('hands errors that are not about the connection to the caller', () => {
    const { logger, records } = capturedLogger();
    const health = new RedisHealth({ logger });
    const bullmq = new EventEmitter();
    const others: string[] = [];
    health.watch(bullmq, (error) => others.push(error.message));

    bullmq.emit('error', new Error('Missing lock for job 7. moveToFinished'));

    expect(others).toEqual(['Missing lock for job 7. moveToFinished']);
    expect(records).toEqual([]);
  });
});

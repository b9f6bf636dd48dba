// The baseline worker: a bare BullMQ `Worker` per queue and nothing else (no validation, no timeout,
// no logging). Its processor does what `ping`'s handler does, returning the same `{ pid, at }`, so
// that both sides do the same work and the benchmark reads when each run started the same way;
// a job with `sleepMs` in its data sleeps that long first and returns when it started and ended,
// as the test jobs of flow control do. Env: REDIS_URL (or REDIS_SENTINELS, `host:port,...`, with
// REDIS_SENTINEL_NAME: ioredis then follows the primary the sentinels name), KEY_PREFIX, QUEUES,
// CONCURRENCY.
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';

const sentinels = process.env.REDIS_SENTINELS?.split(',').map((address) => {
  const [host, port] = address.split(':');
  return { host: host ?? '', port: Number(port) };
});
const connection = sentinels
  ? new Redis({ sentinels, name: process.env.REDIS_SENTINEL_NAME ?? '', maxRetriesPerRequest: null })
  : new Redis(process.env.REDIS_URL ?? '', { maxRetriesPerRequest: null });
const queues = (process.env.QUEUES ?? 'default').split(',');
const concurrency = Number(process.env.CONCURRENCY ?? 10);
const ping = async (job: Job<{ sleepMs?: number }>) => {
  if (job.data.sleepMs === undefined) return { pid: process.pid, at: new Date().toISOString() };
  const startedAt = Date.now();
  if (job.data.sleepMs > 0) await sleep(job.data.sleepMs);
  return { startedAt, finishedAt: Date.now(), pid: process.pid };
};
const workers = queues.map((queue) => new Worker(queue, ping, { connection, prefix: process.env.KEY_PREFIX ?? 'bull', concurrency }));
await Promise.all(workers.map((worker) => worker.waitUntilReady()));

await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
await Promise.all(workers.map((worker) => worker.close()));
connection.disconnect();

// The baseline worker: a bare BullMQ `Worker` per queue and nothing else (no validation, no timeout,
// no logging). Its processor does what `ping`'s handler does, returning the same `{ pid, at }`, so
// that both sides do the same work and the benchmark reads when each run started the same way.
// Env: REDIS_URL, KEY_PREFIX, QUEUES, CONCURRENCY.
import { once } from 'node:events';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const connection = new Redis(process.env.REDIS_URL ?? '', { maxRetriesPerRequest: null });
const queues = (process.env.QUEUES ?? 'default').split(',');
const concurrency = Number(process.env.CONCURRENCY ?? 10);
const ping = async () => ({ pid: process.pid, at: new Date().toISOString() });
const workers = queues.map((queue) => new Worker(queue, ping, { connection, prefix: process.env.KEY_PREFIX ?? 'bull', concurrency }));
await Promise.all(workers.map((worker) => worker.waitUntilReady()));

await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
await Promise.all(workers.map((worker) => worker.close()));
connection.disconnect();

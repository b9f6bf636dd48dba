// The baseline of the scheduler process for idle memory: with bare BullMQ, schedules live in Redis
// (`upsertJobScheduler`) and no scheduler process runs; the closest equivalent is a process holding
// a `Queue` per queue that upserted its job schedulers. Env: REDIS_URL, KEY_PREFIX, QUEUES.
import { once } from 'node:events';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

const connection = new Redis(process.env.REDIS_URL ?? '', { maxRetriesPerRequest: null });
const queues = (process.env.QUEUES ?? 'default').split(',').map((name) => new Queue(name, { connection, prefix: process.env.KEY_PREFIX ?? 'bull' }));
await Promise.all(queues.map((queue, index) => queue.upsertJobScheduler(`idle-${index}`, { every: 30 * 60_000 }, { name: 'ping', data: {} })));
process.stdout.write(`${JSON.stringify({ msg: 'ready' })}\n`);

await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
await Promise.all(queues.map((queue) => queue.close()));
connection.disconnect();

// The baseline HTTP enqueuer: bare Fastify routes calling `queue.add` / `queue.addBulk` with the same
// job options Drumline uses (passed in JOB_OPTS), and nothing else: no auth, no schema, no logger.
// Env: REDIS_URL, KEY_PREFIX, PORT, JOB_OPTS (JSON).
import { once } from 'node:events';
import { Queue, type JobsOptions } from 'bullmq';
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const connection = new Redis(process.env.REDIS_URL ?? '', { maxRetriesPerRequest: null });
const queue = new Queue('default', { connection, prefix: process.env.KEY_PREFIX ?? 'bull' });
const opts = JSON.parse(process.env.JOB_OPTS ?? '{}') as JobsOptions;

const app = Fastify({ bodyLimit: 1024 * 1024 });
app.post<{ Body: { data: unknown } }>('/api/jobs/ping', async (request, reply) => {
  const job = await queue.add('ping', request.body.data, opts);
  return reply.code(202).send({ id: job.id, name: 'ping', queue: 'default' });
});
app.post<{ Body: { items: { data: unknown }[] } }>('/api/jobs/ping/bulk', async (request, reply) => {
  const jobs = await queue.addBulk(request.body.items.map((item) => ({ name: 'ping', data: item.data, opts })));
  return reply.code(202).send({ ids: jobs.map((job) => job.id), name: 'ping', queue: 'default' });
});
app.get('/readyz', async () => ({ status: 'ok' }));
app.get('/healthz', async () => ({ status: 'ok' }));
// The same Redis reads as Drumline's schedule listing (sorted ids, one page of records), without
// computing next runs: what paging costs a bare server.
app.get<{ Querystring: { limit?: string; cursor?: string } }>('/api/schedules', async (request) => {
  const ids = (await connection.hkeys(`${process.env.KEY_PREFIX}:drumline:schedules`)).sort();
  const after = request.query.cursor ? Buffer.from(request.query.cursor, 'base64url').toString('utf8') : undefined;
  const start = after === undefined ? 0 : ids.findIndex((id) => id > after);
  const page = start < 0 ? [] : ids.slice(start, start + Number(request.query.limit ?? 100));
  const records = page.length > 0 ? await connection.hmget(`${process.env.KEY_PREFIX}:drumline:schedules`, ...page) : [];
  const last = page[page.length - 1];
  const more = start >= 0 && start + page.length < ids.length;
  return { schedules: records.map((json) => JSON.parse(json ?? 'null') as unknown), nextCursor: more && last ? Buffer.from(last).toString('base64url') : null };
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });

await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
await app.close();
await queue.close();
connection.disconnect();

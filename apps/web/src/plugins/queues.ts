import { closeRedis, type JobRegistry, type QueueSet } from '@drumline/core/runtime';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';

declare module 'fastify' {
  interface FastifyInstance {
    registry: JobRegistry;
    queues: QueueSet;
    /** The init tasks' queue, for the dashboard only: the web never enqueues init tasks. */
    initQueues: QueueSet | undefined;
    /** The connection the queues share; routes use it only for health checks. */
    redis: Redis;
  }
}

export interface QueuesPluginOptions {
  registry: JobRegistry;
  queues: QueueSet;
  initQueues?: QueueSet | undefined;
  redis: Redis;
}

/** Decorates the app with the job registry, its queues (and the init tasks') and their connection, and closes them with the app. */
export const queuesPlugin = fp<QueuesPluginOptions>(
  async (app, { registry, queues, initQueues, redis }) => {
    app.decorate('registry', registry);
    app.decorate('queues', queues);
    app.decorate('initQueues', initQueues);
    app.decorate('redis', redis);
    redis.on('error', (error: Error) => app.log.warn({ err: error }, 'redis connection error; retrying'));
    // BullMQ re-emits the shared connection's errors on every queue; they are logged once above,
    // and without a listener BullMQ would print each of them to stderr.
    for (const queue of [...queues.all(), ...(initQueues?.all() ?? [])]) queue.on('error', () => {});
    app.addHook('onClose', async () => {
      await Promise.all([queues.close(), initQueues?.close()]);
      await closeRedis(redis);
    });
  },
  { name: 'drumline-queues', fastify: '5.x' },
);

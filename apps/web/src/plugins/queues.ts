import { closeRedis, drumlineKeys, type DrumlineKeys, type JobRegistry, type QueueSet } from '@drumline/core/runtime';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { RunEvents } from '../run-events.js';

declare module 'fastify' {
  interface FastifyInstance {
    registry: JobRegistry;
    queues: QueueSet;
    /** The init tasks' queue, for the dashboard only: the web never enqueues init tasks. */
    initQueues: QueueSet | undefined;
    /** The connection the queues share, for health checks and Drumline's own keys. */
    redis: Redis;
    /** Drumline's keys under the queues' prefix. */
    keys: DrumlineKeys;
    /** Each queue's completed and failed events, for requests that wait on a run. */
    runEvents: RunEvents;
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
    app.decorate('keys', drumlineKeys(queues.prefix));
    const runEvents = new RunEvents(redis);
    app.decorate('runEvents', runEvents);
    redis.on('error', (error: Error) => app.log.warn({ err: error }, 'redis connection error; retrying'));
    // BullMQ re-emits the shared connection's errors on every queue; they are logged once above,
    // and without a listener BullMQ would print each of them to stderr.
    for (const queue of [...queues.all(), ...(initQueues?.all() ?? [])]) queue.on('error', () => {});
    app.addHook('onClose', async () => {
      await Promise.all([queues.close(), initQueues?.close(), runEvents.close()]);
      await closeRedis(redis);
    });
  },
  { name: 'drumline-queues', fastify: '5.x' },
);

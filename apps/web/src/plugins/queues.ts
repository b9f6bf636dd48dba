import { closeRedis, TickLedger, type DrumlineKeys, type JobRegistry, type QueueSet, type RedisHealth, type RedisConnection, type TickLedgerRetention } from '@drumline/core/runtime';
import fp from 'fastify-plugin';
import { RunEvents } from '../run-events.js';

declare module 'fastify' {
  interface FastifyInstance {
    registry: JobRegistry;
    queues: QueueSet;
    /** The init tasks' queue, for the dashboard only: the web never enqueues init tasks. */
    initQueues: QueueSet | undefined;
    /** The connection the queues share, for health checks and Drumline's own keys. */
    redis: RedisConnection;
    /** Whether `redis` is connected, without a round trip. */
    redisHealth: RedisHealth;
    /** Drumline's keys under the queues' prefix, laid out for the connection. */
    keys: DrumlineKeys;
    /** Each queue's completed and failed events, for requests that wait on a run. */
    runEvents: RunEvents;
    /** The schedules' tick ledgers: read by the API and the page, written by backfills. */
    ledger: TickLedger;
  }
}

export interface QueuesPluginOptions {
  registry: JobRegistry;
  queues: QueueSet;
  initQueues?: QueueSet | undefined;
  redis: RedisConnection;
  redisHealth: RedisHealth;
  /** TICK_LEDGER_*, so that a backfill trims a ledger as the scheduler and the workers do. */
  ledgerRetention?: TickLedgerRetention | undefined;
}

/** Decorates the app with the job registry, its queues (and the init tasks') and their connection, and closes them with the app. */
export const queuesPlugin = fp<QueuesPluginOptions>(
  async (app, { registry, queues, initQueues, redis, redisHealth, ledgerRetention }) => {
    app.decorate('registry', registry);
    app.decorate('queues', queues);
    app.decorate('initQueues', initQueues);
    app.decorate<RedisConnection, 'redis'>('redis', redis);
    // It listens to `redis` and the queues: an outage is logged once, not per queue and retry.
    app.decorate('redisHealth', redisHealth);
    app.decorate('keys', queues.keys);
    app.decorate('ledger', new TickLedger(redis, queues.prefix, ledgerRetention));
    const runEvents = new RunEvents(redis);
    app.decorate('runEvents', runEvents);
    app.addHook('onClose', async () => {
      await Promise.all([queues.close(), initQueues?.close(), runEvents.close()]);
      await closeRedis(redis);
    });
  },
  { name: 'drumline-queues', fastify: '5.x' },
);

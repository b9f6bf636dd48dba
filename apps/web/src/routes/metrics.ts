import { createMetricsRegistry, createOverdueGauge, createQueueBacklogGauge, createQueueJobsGauge, createRedisUpGauge, ScheduleStore } from '@drumline/core/runtime';
import type { FastifyPluginAsync } from 'fastify';
import { apiTokenAuth } from '../plugins/api-token-auth.js';
import { queueBacklog } from './queue-backlog.js';

export interface MetricsRoutesOptions {
  /** Every scrape must send `Authorization: Bearer <token>`. */
  token: string;
}

/**
 * `GET /metrics` for Prometheus: the web's process metrics, and the deployment-wide series read
 * from Redis at scrape time (queue sizes, the backlog autoscalers follow, overdue schedules). The web serves those rather than
 * the workers so that they are counted once, not once per replica.
 */
export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, { token }) => {
  await app.register(apiTokenAuth, { token, variable: 'METRICS_TOKEN' });
  const registry = createMetricsRegistry('web');
  const health = app.redisHealth;
  createRedisUpGauge(registry, health);
  const reachable = () => health.up;
  const queues = new Map(app.queues.all().map((queue) => [queue.name, queue]));
  createQueueJobsGauge(
    registry,
    [...queues.keys()],
    (name) => queues.get(name)?.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed') ?? Promise.resolve({}),
    reachable,
  );
  createQueueBacklogGauge(
    registry,
    [...queues.keys()],
    (name) => {
      const queue = queues.get(name);
      return queue ? queueBacklog(app.redis, queue, Date.now()) : Promise.resolve(0);
    },
    reachable,
  );
  const store = new ScheduleStore(app.redis, app.queues.prefix);
  createOverdueGauge(registry, async () => {
    const [records, paused, overdue] = await Promise.all([store.all(), store.pausedIds(), store.overdue()]);
    return new Map(records.map((record) => [record.id, !paused.has(record.id) && overdue.has(record.id)]));
  }, reachable);

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
};

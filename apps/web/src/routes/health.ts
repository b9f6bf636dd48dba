import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RedisConnection } from '@drumline/core/runtime';

/** A condition /readyz waits for; resolves with why the app is not ready yet, or undefined when it is. */
export type ReadinessCheck = () => Promise<string | undefined>;

export interface HealthRoutesOptions {
  readinessChecks: readonly ReadinessCheck[];
  /** How long Redis and each check may take before /readyz gives up on them (default 1000 ms). */
  timeoutMs?: number;
}

/** Settles with `fallback` when `work` takes longer than `ms`, and never leaves a timer behind. */
async function within<T>(ms: number, work: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves true once `redis` is connected, or false after `ms`. */
function connected(redis: RedisConnection, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => settle(true);
    const timer = setTimeout(() => settle(false), ms);
    redis.once('ready', onReady);
  });
}

function redisReadiness(redis: RedisConnection, timeoutMs: number): ReadinessCheck {
  return async () => {
    const deadline = Date.now() + timeoutMs;
    // Waiting for the connection rather than sending PING at once: while disconnected, ioredis
    // would keep every probe's PING in its offline queue until Redis came back.
    if (!(await connected(redis, timeoutMs))) return `redis is not connected (${redis.status})`;
    const answer = await within(Math.max(1, deadline - Date.now()), redis.ping(), undefined);
    return answer === 'PONG' ? undefined : `redis did not answer PING within ${timeoutMs} ms`;
  };
}

/** An orchestrator asks every few seconds: their request lines (info) would drown the others. */
const PROBE_LOG_LEVEL = 'warn';

const readySchema = z.object({ status: z.literal('ok') });
const unavailableSchema = z.object({ status: z.literal('unavailable'), reason: z.string() });

/**
 * Probes for orchestrators. These two routes are the only ones open without credentials: a kubelet
 * or a load balancer cannot log in, and they reveal nothing but whether the process can serve.
 */
export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, { readinessChecks, timeoutMs = 1000 }) => {
  const redisReady = redisReadiness(app.redis, timeoutMs);
  const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
  const settle = (check: ReadinessCheck) =>
    within(timeoutMs, Promise.resolve().then(check), `a readiness check did not answer within ${timeoutMs} ms`).catch(reasonOf);

  app.get(
    '/healthz',
    { logLevel: PROBE_LOG_LEVEL, schema: { tags: ['health'], summary: 'Liveness: the process is up (does not touch Redis)', response: { 200: readySchema } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      logLevel: PROBE_LOG_LEVEL,
      schema: {
        tags: ['health'],
        summary: 'Readiness: Redis answers and every start-up condition holds',
        response: { 200: readySchema, 503: unavailableSchema },
      },
    },
    async (_request, reply) => {
      // Redis's check bounds its own PING; the others are bounded here.
      const reasons = await Promise.all([redisReady().catch((error) => `redis: ${reasonOf(error)}`), ...readinessChecks.map(settle)]);
      const reason = reasons.find((r) => r !== undefined);
      if (reason !== undefined) return reply.code(503).send({ status: 'unavailable', reason });
      return { status: 'ok' as const };
    },
  );
};

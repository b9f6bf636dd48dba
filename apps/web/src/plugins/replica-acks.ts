import type { ReplicaAcks } from '@drumline/core/runtime';
import fp from 'fastify-plugin';
import type { ErrorBody } from './error-handler.js';

export const NOT_REPLICATED = 'DRUMLINE_NOT_REPLICATED';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * With REDIS_WAIT_REPLICAS set, a request that changed something is answered 2xx only once that many
 * replicas hold what it wrote: an acknowledged enqueue or schedule survives a Redis failover. When
 * they do not confirm in time, the answer is 503: the write was made on the primary and will most
 * likely stay, but a failover now could lose it, so the caller retries (with the same jobId, an
 * idempotency key, a retry adds nothing twice).
 */
export const replicaAcksHook = fp<{ acks: ReplicaAcks }>(
  async (app, { acks }) => {
    if (!acks.enabled) return;
    app.addHook('onSend', async (request, reply, payload) => {
      if (READS.has(request.method) || reply.statusCode >= 300) return payload;
      if (await acks.confirm()) return payload;
      const { replicas, timeoutMs } = acks.options;
      request.log.warn({ replicas, timeoutMs }, 'write not confirmed by the replicas in time');
      const body: ErrorBody = {
        error: NOT_REPLICATED,
        message:
          `the write was made on the Redis primary, but fewer than ${replicas} replica(s) confirmed it within ${timeoutMs} ms ` +
          `(REDIS_WAIT_REPLICAS, REDIS_WAIT_TIMEOUT_MS): a failover now could lose it; retry (with the same jobId, nothing is added twice)`,
      };
      void reply.code(503).header('retry-after', '1').type('application/json; charset=utf-8');
      return JSON.stringify(body);
    });
  },
  { name: 'drumline-replica-acks', fastify: '5.x' },
);

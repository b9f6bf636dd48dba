import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Job } from 'bullmq';
import { z } from 'zod';
import { RunNotFoundError } from '../errors/run-not-found-error.js';
import { RunStateConflictError } from '../errors/run-state-conflict-error.js';
import { errorBodySchema } from '../plugins/error-handler.js';

const FINISHED = new Set(['completed', 'failed']);
/** States in which a run has not been taken by a worker: it can simply be removed. */
const NOT_STARTED = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children']);

const security = [{ apiToken: [] }];
const tags = ['runs'];
const params = z.object({ name: z.string(), id: z.string() });

/** Cancel, retry and delete one run; the lookups are the single-run route's. */
export const runControlRoutes: FastifyPluginAsyncZod = async (app) => {
  async function found(name: string, id: string): Promise<Job> {
    const run = await app.queues.findRun(name, id);
    if (!run) throw new RunNotFoundError(name, id);
    return run;
  }

  app.post(
    '/:name/runs/:id/cancel',
    {
      schema: {
        tags,
        summary: 'Cancel a run: removed if not started yet, aborted on its worker if active',
        description:
          'A waiting, delayed or prioritized run is removed (`cancelled`). An active run is `cancelling`: whichever worker holds it aborts ' +
          "its AbortSignal and fails it for good with a reason starting `cancelled`, never retried. A finished run answers 409.",
        security,
        params,
        response: { 200: z.object({ id: z.string(), state: z.enum(['cancelled', 'cancelling']) }), 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request) => {
      const { name, id } = request.params;
      const run = await found(name, id);
      const state = await run.getState();
      if (FINISHED.has(state)) throw new RunStateConflictError(id, state, 'only a run that has not finished can be cancelled');
      if (NOT_STARTED.has(state)) {
        try {
          await run.remove();
          return { id, state: 'cancelled' as const };
        } catch {
          // A worker took it between the two reads (BullMQ refuses to remove a locked job): abort it there.
        }
      }
      await app.redis.publish(app.keys.runCancels, JSON.stringify({ queue: run.queueName, runId: id, reason: 'cancelled through the API' }));
      return { id, state: 'cancelling' as const };
    },
  );

  app.post(
    '/:name/runs/:id/retry',
    {
      schema: {
        tags,
        summary: 'Run a failed run again, with its attempts reset',
        security,
        params,
        response: { 202: z.object({ id: z.string(), state: z.literal('waiting') }), 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      const { name, id } = request.params;
      const run = await found(name, id);
      const state = await run.getState();
      if (state !== 'failed') throw new RunStateConflictError(id, state, 'only a failed run can be retried');
      await run.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      return reply.code(202).send({ id, state: 'waiting' as const });
    },
  );

  app.delete(
    '/:name/runs/:id',
    {
      schema: { tags, summary: 'Remove a finished run', security, params, response: { 204: z.null(), 404: errorBodySchema, 409: errorBodySchema } },
    },
    async (request, reply) => {
      const { name, id } = request.params;
      const run = await found(name, id);
      const state = await run.getState();
      if (!FINISHED.has(state)) throw new RunStateConflictError(id, state, 'only a finished run can be deleted; cancel it first');
      await run.remove();
      return reply.code(204).send(null);
    },
  );
};

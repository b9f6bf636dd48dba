import { runIdSchema } from '@drumline/core/runtime';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RunStateConflictError } from '../errors/run-state-conflict-error.js';
import { errorBodySchema } from '../plugins/error-handler.js';
import { cancelRun, FINISHED, findRun } from '../run-control.js';

const security = [{ apiToken: [] }];
const tags = ['runs'];
// The runs route's id rule (packages/core ids.ts): an id no run can have is a 400 naming the rule.
const params = z.object({ name: z.string(), id: runIdSchema });

/** Cancel, retry and delete one run; the lookups are the single-run route's. */
export const runControlRoutes: FastifyPluginAsyncZod = async (app) => {
  const found = (name: string, id: string) => findRun(app, name, id);

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
        response: { 200: z.object({ id: z.string(), state: z.enum(['cancelled', 'cancelling']) }), 400: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request) => cancelRun(app, await found(request.params.name, request.params.id), 'cancelled through the API'),
  );

  app.post(
    '/:name/runs/:id/retry',
    {
      schema: {
        tags,
        summary: 'Run a failed run again, with its attempts reset',
        security,
        params,
        response: { 202: z.object({ id: z.string(), state: z.literal('waiting') }), 400: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema },
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
      schema: { tags, summary: 'Remove a finished run', security, params, response: { 204: z.null(), 400: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema } },
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

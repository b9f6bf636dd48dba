import { parseScheduledRunId, runIdSchema, scheduleIdSchema, type JobDefinition } from '@drumline/core/runtime';
import type { Job } from 'bullmq';
import ms from 'ms';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RunNotFoundError } from '../errors/run-not-found-error.js';
import { errorBodySchema } from '../plugins/error-handler.js';
import { listRuns, RUN_STATES, SCAN_BUDGET } from '../run-history.js';

export const DEFAULT_RUNS_LIMIT = 20;
export const MAX_RUNS_LIMIT = 100;

/** What both the list and the single-run route say about a run. */
const runSummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  queue: z.string(),
  state: z.string().describe('waiting, prioritized, delayed, active, completed, failed, …'),
  data: z.unknown(),
  attemptsMade: z.number(),
  failedReason: z.string().nullable(),
  createdAt: z.iso.datetime().nullable(),
  startedAt: z.iso.datetime().nullable().describe('When its latest attempt started'),
  finishedAt: z.iso.datetime().nullable(),
  durationMs: z.number().nullable().describe('finishedAt minus startedAt: the latest attempt'),
  scheduleId: z.string().nullable().describe('The schedule that made this run, if any'),
  scheduledFor: z.iso.datetime().nullable().describe("The schedule's nominal tick (for a manual run: when it was triggered)"),
  manual: z.boolean().describe('Triggered by hand ("run now") rather than by a tick'),
});

const runDetailSchema = runSummarySchema.extend({
  returnValue: z.unknown(),
  progress: z.unknown(),
  logs: z.array(z.string()),
});

const runPageSchema = z.object({
  runs: z.array(runSummarySchema),
  nextCursor: z.string().nullable().describe('Pass it as `cursor` for the next page; null when there is none'),
});

function isoOrNull(epochMs: number | undefined): string | null {
  return epochMs ? new Date(epochMs).toISOString() : null;
}

/** The one view of a run, shared by the list and the single-run route. */
export function runSummary(job: JobDefinition, run: Job, state: string): z.infer<typeof runSummarySchema> {
  const scheduled = parseScheduledRunId(run.id);
  return {
    id: run.id as string,
    name: job.name,
    queue: job.queue,
    state,
    data: run.data,
    attemptsMade: run.attemptsMade,
    failedReason: run.failedReason || null,
    createdAt: isoOrNull(run.timestamp),
    startedAt: isoOrNull(run.processedOn),
    finishedAt: isoOrNull(run.finishedOn),
    durationMs: run.processedOn && run.finishedOn ? run.finishedOn - run.processedOn : null,
    scheduleId: scheduled?.scheduleId ?? null,
    scheduledFor: scheduled?.scheduledFor.toISOString() ?? null,
    manual: scheduled?.manual ?? false,
  };
}

const security = [{ apiToken: [] }];
const tags = ['runs'];

const listQuery = z.strictObject({
  state: z.enum(RUN_STATES).optional().describe('Only runs in this state'),
  limit: z.coerce.number().int().min(1).max(MAX_RUNS_LIMIT).default(DEFAULT_RUNS_LIMIT).describe(`Runs per page, 1-${MAX_RUNS_LIMIT}`),
  cursor: z.string().min(1).max(1000).optional().describe('`nextCursor` of the previous page'),
  schedule: scheduleIdSchema.optional().describe("Only the runs of this schedule: its ticks, manual triggers and backfills"),
});

/** The longest a request may wait for a run to finish. */
export const MAX_WAIT_MS = 60_000;

const waitDuration = z
  .union([z.coerce.number().int(), z.string().regex(/^\d+(\.\d+)?(ms|s|m)$/, "a whole number of ms, or a duration such as 500ms, 30s or 1m")])
  .transform((value) => (typeof value === 'number' ? value : ms(value as ms.StringValue)))
  .pipe(z.number().int().min(0).max(MAX_WAIT_MS, `wait at most ${MAX_WAIT_MS / 1000} s`));

const singleRunQuery = z.strictObject({
  wait: waitDuration.optional().describe(`How long to wait for the run to finish: ms, or a duration such as 30s (at most ${MAX_WAIT_MS / 1000} s)`),
});

/** A job's runs: a page of them, newest first, or one with its result and logs. */
export const runRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/:name/runs',
    {
      schema: {
        tags,
        summary: "A job's runs, newest first, a page at a time",
        description:
          'Unfinished runs come first (active, waiting, prioritized, delayed), then finished ones (completed and failed) by finish time. ' +
          `Each request looks at no more than ${SCAN_BUDGET} runs of the queue, whichever job they belong to, so a page may hold fewer ` +
          'than `limit` runs when jobs share a queue: follow `nextCursor` until it is null.',
        security,
        params: z.object({ name: z.string() }),
        querystring: listQuery,
        response: { 200: runPageSchema, 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const job = app.registry.get(request.params.name);
      const queue = app.queues.queueOf(job);
      const { state, limit, cursor, schedule } = request.query;
      const page = await listRuns(app.redis, queue, { jobName: job.name, state, limit, cursor, scheduleId: schedule });
      const loaded = await Promise.all(page.runs.map(async (ref) => ({ ref, run: await queue.getJob(ref.id) })));
      return {
        // A run removed between the index read and this load (retention, a clean) is left out.
        runs: loaded.flatMap(({ ref, run }) => (run ? [runSummary(job, run, ref.state)] : [])),
        nextCursor: page.nextCursor,
      };
    },
  );

  app.get(
    '/:name/runs/:id',
    {
      schema: {
        tags,
        summary: 'One run: state, payload, result or failure, progress, logs',
        description: `With \`wait\` (a duration such as 30s, at most ${MAX_WAIT_MS / 1000} s), answers as soon as the run has finished, or with its state at the deadline.`,
        security,
        params: z.object({ name: z.string(), id: runIdSchema }),
        querystring: singleRunQuery,
        response: { 200: runDetailSchema, 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const { name, id } = request.params;
      const job = app.registry.get(name);
      const queue = app.queues.queueOf(job);
      let run = await app.queues.findRun(name, id);
      if (!run) throw new RunNotFoundError(name, id);
      if (request.query.wait !== undefined && request.query.wait > 0) {
        // The run's own completed or failed event ends the wait; BullMQ checks after subscribing, so
        // a run that finished already (or meanwhile) answers at once. Read again afterwards: the
        // first read may predate the finish, and its fields must match the state reported.
        await run.waitUntilFinished(app.runEvents.of(queue), request.query.wait).catch(() => undefined);
        run = (await app.queues.findRun(name, id)) ?? run;
      }
      const [state, { logs }] = await Promise.all([run.getState(), queue.getJobLogs(id)]);
      return { ...runSummary(job, run, state), returnValue: run.returnvalue ?? null, progress: run.progress, logs };
    },
  );
};

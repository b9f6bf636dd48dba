import {
  apiScheduleRecord,
  manualRunId,
  scheduleInputSchema,
  ScheduleStore,
  ticksAfter,
  UnknownScheduleError,
  type LastRun,
  type Overdue,
  type ScheduleRecord,
} from '@drumline/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorBodySchema } from '../plugins/error-handler.js';

const NEXT_RUNS = 5;
const idParams = z.object({ id: z.string().min(1).max(128) });

const lastRunSchema = z
  .object({
    runId: z.string(),
    scheduledFor: z.string(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    state: z.enum(['active', 'completed', 'failed', 'skipped']),
    reason: z.string().optional(),
    latenessMs: z.number().describe('Start minus the nominal tick time'),
  })
  .nullable();

const scheduleView = z.object({
  id: z.string(),
  job: z.string(),
  spec: z.object({ cron: z.string().optional(), every: z.number().optional(), at: z.string().optional() }),
  tz: z.string().nullable(),
  data: z.unknown(),
  misfire: z.enum(['skip', 'once', 'all']),
  overlap: z.enum(['allow', 'skip', 'queue']),
  owner: z.enum(['code', 'api']),
  paused: z.boolean(),
  nextRuns: z.array(z.string()),
  lastRun: lastRunSchema,
  overdue: z
    .object({ tick: z.string(), since: z.string() })
    .nullable()
    .describe("Dead-man's switch: the tick whose run had not started SCHEDULE_OVERDUE_MS after it, and since when; null when on time or paused"),
});

function view(record: ScheduleRecord, paused: boolean, lastRun: LastRun | undefined, now: number, overdue: Overdue | undefined): z.infer<typeof scheduleView> {
  const { timing } = record;
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: record.id,
    job: record.job,
    spec: timing.kind === 'cron' ? { cron: timing.cron } : timing.kind === 'every' ? { every: timing.everyMs } : { at: iso(timing.atMs) },
    tz: timing.kind === 'cron' ? timing.tz : null,
    data: record.data,
    misfire: record.misfire,
    overlap: record.overlap,
    owner: record.owner,
    paused,
    nextRuns: paused ? [] : ticksAfter(timing, now, NEXT_RUNS).map(iso),
    lastRun: lastRun
      ? {
          runId: lastRun.runId,
          scheduledFor: iso(lastRun.scheduledFor),
          startedAt: iso(lastRun.startedAt),
          finishedAt: lastRun.finishedAt === null ? null : iso(lastRun.finishedAt),
          state: lastRun.state,
          ...(lastRun.reason ? { reason: lastRun.reason } : {}),
          latenessMs: lastRun.startedAt - lastRun.scheduledFor,
        }
      : null,
    overdue: overdue && !paused ? { tick: iso(overdue.tick), since: iso(overdue.since) } : null,
  };
}

/**
 * Schedules at runtime. The web only writes schedule state (and flags it changed); the leading
 * scheduler applies it within a poll: it withdraws or adds the pending runs.
 */
export const scheduleRoutes: FastifyPluginAsyncZod = async (app) => {
  const store = new ScheduleStore(app.redis, app.queues.prefix);
  const tags = ['schedules'];

  async function load(id: string) {
    const record = await store.get(id);
    if (!record) throw new UnknownScheduleError(id);
    const [paused, lastRuns, overdue] = await Promise.all([store.isPaused(id), store.lastRuns([id]), store.overdue()]);
    return view(record, paused, lastRuns.get(id), Date.now(), overdue.get(id));
  }

  app.get('/', { schema: { tags, response: { 200: z.object({ schedules: z.array(scheduleView) }) } } }, async () => {
    const [records, paused, lastRuns, overdue] = await Promise.all([store.all(), store.pausedIds(), store.lastRuns(), store.overdue()]);
    const now = Date.now();
    records.sort((a, b) => a.id.localeCompare(b.id));
    return { schedules: records.map((record) => view(record, paused.has(record.id), lastRuns.get(record.id), now, overdue.get(record.id))) };
  });

  app.get('/:id', { schema: { tags, params: idParams, response: { 200: scheduleView, 404: errorBodySchema } } }, async (request) => load(request.params.id));

  app.put(
    '/:id',
    { schema: { tags, params: idParams, body: scheduleInputSchema, response: { 200: scheduleView, 201: scheduleView, 400: errorBodySchema, 409: errorBodySchema } } },
    async (request, reply) => {
      const record = apiScheduleRecord(app.registry, request.params.id, request.body);
      const outcome = await store.putFromApi(record);
      reply.code(outcome === 'created' ? 201 : 200);
      return load(record.id);
    },
  );

  app.delete('/:id', { schema: { tags, params: idParams, response: { 204: z.null(), 404: errorBodySchema, 409: errorBodySchema } } }, async (request, reply) => {
    await store.deleteFromApi(request.params.id);
    return reply.code(204).send(null);
  });

  for (const paused of [true, false]) {
    app.post(
      `/:id/${paused ? 'pause' : 'resume'}`,
      { schema: { tags, params: idParams, response: { 200: scheduleView, 404: errorBodySchema } } },
      async (request) => {
        await store.setPaused(request.params.id, paused);
        return load(request.params.id);
      },
    );
  }

  app.post(
    '/:id/trigger',
    { schema: { tags, params: idParams, response: { 202: z.object({ id: z.string(), name: z.string(), queue: z.string() }), 404: errorBodySchema } } },
    async (request, reply) => {
      const record = await store.get(request.params.id);
      if (!record) throw new UnknownScheduleError(request.params.id);
      const run = await app.queues.enqueue(record.job, record.data, { jobId: manualRunId(record.id, Date.now()) });
      return reply.code(202).send({ id: run.id as string, name: run.name, queue: run.queueName });
    },
  );
};

import {
  apiScheduleRecord,
  manualRunId,
  scheduleInputSchema,
  scheduleIdSchema,
  ScheduleStore,
  ticksAfter,
  UnknownScheduleError,
  type LastRun,
  type Overdue,
  type ScheduleRecord,
} from '@drumline/core/runtime';
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorBodySchema } from '../plugins/error-handler.js';

const NEXT_RUNS = 5;
export const idParams = z.object({ id: scheduleIdSchema });

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

export const scheduleView = z.object({
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

export type ScheduleView = z.infer<typeof scheduleView>;

/** How the API and the admin page show a schedule; `now` decides which runs are next. */
export function view(record: ScheduleRecord, paused: boolean, lastRun: LastRun | undefined, now: number, overdue: Overdue | undefined): ScheduleView {
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

export const enqueuedSchema = z.object({ id: z.string(), name: z.string(), queue: z.string() });
export type EnqueuedRun = z.infer<typeof enqueuedSchema>;

/**
 * What can be read and done to schedules, for the API routes below and the admin page
 * (routes/schedules-page.ts), so both behave the same. The web only writes schedule state (and
 * flags it changed); the leading scheduler applies it within a poll: it withdraws or adds the
 * pending runs.
 */
export class ScheduleService {
  readonly store: ScheduleStore;

  constructor(private readonly app: FastifyInstance) {
    this.store = new ScheduleStore(app.redis, app.queues.prefix);
  }

  /** Every schedule, by id. */
  async list(): Promise<ScheduleView[]> {
    const [records, paused, lastRuns, overdue] = await Promise.all([this.store.all(), this.store.pausedIds(), this.store.lastRuns(), this.store.overdue()]);
    const now = Date.now();
    records.sort((a, b) => a.id.localeCompare(b.id));
    return records.map((record) => view(record, paused.has(record.id), lastRuns.get(record.id), now, overdue.get(record.id)));
  }

  /** @throws UnknownScheduleError */
  async get(id: string): Promise<ScheduleView> {
    const record = await this.store.get(id);
    if (!record) throw new UnknownScheduleError(id);
    const [paused, lastRuns, overdue] = await Promise.all([this.store.isPaused(id), this.store.lastRuns([id]), this.store.overdue()]);
    return view(record, paused, lastRuns.get(id), Date.now(), overdue.get(id));
  }

  /** Pauses or resumes any schedule, code-owned ones too. @throws UnknownScheduleError */
  async setPaused(id: string, paused: boolean): Promise<ScheduleView> {
    await this.store.setPaused(id, paused);
    return this.get(id);
  }

  /** Enqueues one run now with the schedule's data, beside its ticks ("run now"). @throws UnknownScheduleError */
  async trigger(id: string): Promise<EnqueuedRun> {
    const record = await this.store.get(id);
    if (!record) throw new UnknownScheduleError(id);
    const run = await this.app.queues.enqueue(record.job, record.data, { jobId: manualRunId(record.id, Date.now()) });
    return { id: run.id as string, name: run.name, queue: run.queueName };
  }
}

/** Schedules at runtime, for API clients. */
export const scheduleRoutes: FastifyPluginAsyncZod = async (app) => {
  const schedules = new ScheduleService(app);
  const tags = ['schedules'];

  app.get('/', { schema: { tags, response: { 200: z.object({ schedules: z.array(scheduleView) }) } } }, async () => ({ schedules: await schedules.list() }));

  app.get('/:id', { schema: { tags, params: idParams, response: { 200: scheduleView, 404: errorBodySchema } } }, async (request) => schedules.get(request.params.id));

  app.put(
    '/:id',
    { schema: { tags, params: idParams, body: scheduleInputSchema, response: { 200: scheduleView, 201: scheduleView, 400: errorBodySchema, 409: errorBodySchema } } },
    async (request, reply) => {
      const record = apiScheduleRecord(app.registry, request.params.id, request.body);
      const outcome = await schedules.store.putFromApi(record);
      reply.code(outcome === 'created' ? 201 : 200);
      return schedules.get(record.id);
    },
  );

  app.delete('/:id', { schema: { tags, params: idParams, response: { 204: z.null(), 404: errorBodySchema, 409: errorBodySchema } } }, async (request, reply) => {
    await schedules.store.deleteFromApi(request.params.id);
    return reply.code(204).send(null);
  });

  for (const paused of [true, false]) {
    app.post(
      `/:id/${paused ? 'pause' : 'resume'}`,
      { schema: { tags, params: idParams, response: { 200: scheduleView, 404: errorBodySchema } } },
      async (request) => schedules.setPaused(request.params.id, paused),
    );
  }

  app.post(
    '/:id/trigger',
    { schema: { tags, params: idParams, response: { 202: enqueuedSchema, 404: errorBodySchema } } },
    async (request, reply) => reply.code(202).send(await schedules.trigger(request.params.id)),
  );
};

import {
  jitterOffsetMs,
  apiScheduleRecord,
  InvalidScheduleError,
  manualRunId,
  scheduledRunId,
  scheduleInputSchema,
  scheduleIdSchema,
  ScheduleStore,
  ticksAfter,
  UnknownScheduleError,
  type JobDefinition,
  type LastRun,
  type Overdue,
  type ScheduleRecord,
} from '@drumline/core/runtime';
import type { FastifyInstance } from 'fastify';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RunStateConflictError } from '../errors/run-state-conflict-error.js';
import { SchedulePausedError } from '../errors/schedule-paused-error.js';
import { cancelRun, findRun } from '../run-control.js';
import { errorBodySchema } from '../plugins/error-handler.js';

const NEXT_RUNS = 5;
export const idParams = z.object({ id: scheduleIdSchema });

const lastRunSchema = z
  .object({
    runId: z.string(),
    scheduledFor: z.string(),
    startedAt: z.string().describe('When its first attempt started'),
    finishedAt: z.string().nullable(),
    state: z.enum(['active', 'completed', 'failed', 'skipped']),
    reason: z.string().optional(),
    attempts: z.number().describe('Attempts so far, this one included; the run in the jobs API has each one'),
    latenessMs: z.number().describe("The first attempt's start minus when the run was due (its tick, plus the jitter offset of a jittered schedule): retries do not add to it"),
  })
  .nullable();

export const scheduleView = z.object({
  id: z.string(),
  job: z.string(),
  spec: z.object({ cron: z.string().optional(), every: z.number().optional(), at: z.string().optional() }),
  tz: z.string().nullable(),
  data: z.unknown(),
  misfire: z.enum(['skip', 'once', 'all']),
  misfireCap: z.number().describe("Most catch-up runs with misfire 'all'"),
  misfireGraceMs: z.number().nullable().describe('Missed ticks older than this are never caught up; null: no limit'),
  overlap: z.enum(['allow', 'skip', 'queue']),
  jitterMs: z.number().describe("Each tick's run is due a fixed offset in [0, jitterMs) after the tick; 0: at the tick"),
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

/** A stored schedule that cannot be shown (written by an older version, or by hand): listed as broken, never failing the list. */
export const brokenScheduleView = z.object({
  id: z.string(),
  broken: z.string().describe('Why the stored schedule cannot be read; fix it with PUT, or DELETE it'),
});
export type BrokenScheduleView = z.infer<typeof brokenScheduleView>;

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;
export const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  cursor: z.string().min(1).max(1024).optional().describe('`nextCursor` of the previous page'),
  q: z.string().max(200).optional().describe("Only schedules whose id or job contains it (case-insensitive); page with the same `q`"),
});
export const schedulePage = z.object({
  schedules: z.array(z.union([scheduleView, brokenScheduleView])),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
});
export type SchedulePage = z.infer<typeof schedulePage>;

/**
 * Views are built in slices of this many ms, so a page never holds the event loop for long: a view
 * is microseconds once its schedule's next runs are known, but a rare cron's first ones in a zone
 * not seen before may take a few ms (Temporal finds that zone's transitions).
 */
const SLICE_MS = 10;
/** Records read per round trip by a search. */
const SEARCH_CHUNK = 1000;

/** A stored record's job, if it can be read; the listing shows an unreadable one as broken. */
function jobOf(json: string | null | undefined): string | undefined {
  if (!json) return undefined;
  try {
    const { job } = JSON.parse(json) as { job?: unknown };
    return typeof job === 'string' ? job : undefined;
  } catch {
    return undefined;
  }
}

const encodeCursor = (id: string) => Buffer.from(id, 'utf8').toString('base64url');
const decodeCursor = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8');

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
    misfireCap: record.misfireCap,
    misfireGraceMs: record.misfireGraceMs,
    overlap: record.overlap,
    jitterMs: record.jitterMs ?? 0,
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
          attempts: lastRun.attempt ?? 1,
          latenessMs: lastRun.startedAt - lastRun.scheduledFor - jitterOffsetMs(record.id, lastRun.scheduledFor, record.jitterMs ?? 0),
        }
      : null,
    overdue: overdue && !paused ? { tick: iso(overdue.tick), since: iso(overdue.since) } : null,
  };
}

export const enqueuedSchema = z.object({ id: z.string(), name: z.string(), queue: z.string() });

/** The most ticks one backfill may enqueue. */
export const MAX_BACKFILL_TICKS = 1000;
/** How long a backfilled run is known as one, so a worker does not drop it as misfired: a week. */
const BACKFILL_MARK_SECONDS = 7 * 86_400;
export const backfillBody = z.strictObject({
  from: z.iso.datetime({ offset: true }).describe('First instant of the range (ISO 8601), included'),
  to: z.iso.datetime({ offset: true }).describe('Last instant of the range (ISO 8601), included; not in the future'),
});
export const backfillSchema = z.object({
  ticks: z.number().describe('Ticks of the schedule in the range'),
  enqueued: z.number().describe('Runs added, one per tick, in tick order'),
  skipped: z.number().describe('Ticks whose run exists already, or ran within the last hour'),
});
export type Backfill = z.infer<typeof backfillSchema>;
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

  /**
   * One page of schedules, by id, of those whose id or job contains `q` when given. The cursor is
   * the last id of the previous page, so a schedule added or deleted meanwhile shifts nothing: each
   * id is listed once.
   */
  async list(options: { limit?: number; cursor?: string; q?: string } = {}): Promise<SchedulePage> {
    const limit = options.limit ?? DEFAULT_PAGE_SIZE;
    const ids = await this.store.ids();
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const start = after === undefined ? 0 : ids.findIndex((id) => id > after);
    const q = options.q?.trim().toLowerCase() ?? '';
    // One past the page, to know whether another follows.
    const found = start < 0 ? [] : q ? await this.matching(ids, start, limit + 1, q) : ids.slice(start, start + limit + 1);
    const pageIds = found.slice(0, limit);
    const [raw, paused, lastRuns, overdue] = await Promise.all([
      this.store.rawRecords(pageIds),
      this.store.pausedAmong(pageIds),
      this.store.lastRuns(pageIds),
      this.store.overdue(pageIds),
    ]);
    const now = Date.now();
    const schedules: SchedulePage['schedules'] = [];
    let sliceStart = performance.now();
    for (const [index, id] of pageIds.entries()) {
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
      const json = raw[index];
      if (json === null || json === undefined) continue;
      try {
        schedules.push(view(JSON.parse(json) as ScheduleRecord, paused.has(id), lastRuns.get(id), now, overdue.get(id)));
      } catch (error) {
        this.app.log.warn({ err: error, schedule: id }, 'a stored schedule cannot be shown; listed as broken');
        schedules.push({ id, broken: (error as Error).message });
      }
    }
    const last = pageIds[pageIds.length - 1];
    return { schedules, nextCursor: found.length > limit && last !== undefined ? encodeCursor(last) : null };
  }

  /**
   * The first `count` of `ids` from `start` whose id or job contains `q` (lower case). Job names
   * are only in the records, so those whose id does not match are read in chunks, stopping once
   * the page is full: a search that matches little reads every record, 1000 to a round trip,
   * which keeps 10,000 schedules within a few round trips and no index to keep in step with the
   * scheduler's and the API's writes.
   */
  private async matching(ids: string[], start: number, count: number, q: string): Promise<string[]> {
    const found: string[] = [];
    for (let from = start; from < ids.length && found.length < count; from += SEARCH_CHUNK) {
      const chunk = ids.slice(from, from + SEARCH_CHUNK);
      const byJob = chunk.filter((id) => !id.toLowerCase().includes(q));
      const raw = await this.store.rawRecords(byJob);
      const jobMatches = new Set(byJob.filter((_, index) => jobOf(raw[index])?.toLowerCase().includes(q)));
      for (const id of chunk) if (found.length < count && (jobMatches.has(id) || id.toLowerCase().includes(q))) found.push(id);
    }
    return found;
  }

  /** @throws UnknownScheduleError */
  async get(id: string): Promise<ScheduleView> {
    const record = await this.store.get(id);
    if (!record) throw new UnknownScheduleError(id);
    const [paused, lastRuns, overdue] = await Promise.all([this.store.isPaused(id), this.store.lastRuns([id]), this.store.overdue([id])]);
    return view(record, paused, lastRuns.get(id), Date.now(), overdue.get(id));
  }

  /** Pauses or resumes any schedule, code-owned ones too. @throws UnknownScheduleError */
  async setPaused(id: string, paused: boolean): Promise<ScheduleView> {
    await this.store.setPaused(id, paused);
    return this.get(id);
  }

  /**
   * Runs each tick of the schedule in [from, to] once, with the ids the scheduler gives them, so a
   * tick whose run exists (or ran within the claim's hour) is not run again. Runs are added in tick
   * order; the worker applies the schedule's overlap policy as for any tick, but not its misfire
   * policy: a backfilled run is late by design. Refused ranges write nothing.
   * @throws UnknownScheduleError, SchedulePausedError, InvalidScheduleError
   */
  async backfill(id: string, range: { from: string; to: string }, now = Date.now()): Promise<Backfill> {
    const record = await this.store.get(id);
    if (!record) throw new UnknownScheduleError(id);
    if (await this.store.isPaused(id)) throw new SchedulePausedError(id);
    const [from, to] = [Date.parse(range.from), Date.parse(range.to)];
    const refuse = (path: 'from' | 'to' | 'job', message: string): never => {
      throw new InvalidScheduleError([{ path, message }]);
    };
    if (to < from) refuse('to', '`to` must not be before `from`');
    if (to > now) refuse('to', '`to` must not be in the future: the scheduler runs those ticks itself');
    const ticks = ticksAfter(record.timing, from - 1, MAX_BACKFILL_TICKS + 1, to);
    if (ticks.length > MAX_BACKFILL_TICKS) refuse('to', `the range holds more than ${MAX_BACKFILL_TICKS} ticks: backfill it in parts`);
    const job = this.app.registry.find(record.job);
    if (!job) refuse('job', `schedule \`${id}\` names job \`${record.job}\`, which the code no longer defines`);
    const queue = this.app.queues.queueOf(job as JobDefinition);
    const runIds = ticks.map((tick) => scheduledRunId(id, tick));
    const { keys } = this.app;
    // A run and its tick's claim lie in different slots on Redis Cluster (its queue's, Drumline's):
    // one pipeline for each.
    const exists = async (keyOf: (runId: string) => string) => {
      const pipeline = this.app.redis.pipeline();
      for (const runId of runIds) pipeline.exists(keyOf(runId));
      return ((await pipeline.exec()) ?? []).map(([error, found]) => error === null && Number(found) > 0);
    };
    const [runs, claims] = await Promise.all([exists((runId) => queue.toKey(runId)), exists(keys.tickClaim)]);
    const missing = runIds.filter((_, index) => !runs[index] && !claims[index]);
    if (missing.length > 0) {
      const mark = this.app.redis.pipeline();
      for (const runId of missing) mark.set(keys.backfilled(runId), String(now), 'EX', BACKFILL_MARK_SECONDS);
      await mark.exec();
      await this.app.queues.addBulk(job as JobDefinition, missing.map((runId) => ({ data: record.data, options: { jobId: runId } })));
      const added = ticks.filter((_, index) => !runs[index] && !claims[index]);
      await this.app.ledger.append(added.map((tick) => ({ scheduleId: id, tick, event: { kind: 'backfilled', at: now } })), now);
    }
    return { ticks: ticks.length, enqueued: missing.length, skipped: ticks.length - missing.length };
  }

  /** Cancels the schedule's active run, for the schedules page. @throws UnknownScheduleError, RunNotFoundError, RunStateConflictError */
  async cancelActiveRun(id: string): Promise<{ id: string; state: 'cancelled' | 'cancelling' }> {
    const record = await this.store.get(id);
    if (!record) throw new UnknownScheduleError(id);
    const lastRun = (await this.store.lastRuns([id])).get(id);
    if (!lastRun || lastRun.state !== 'active') throw new RunStateConflictError(lastRun?.runId ?? id, lastRun?.state ?? 'not running', 'the schedule has no active run to cancel');
    return cancelRun(this.app, await findRun(this.app, record.job, lastRun.runId), 'cancelled from the schedules page');
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

  app.get('', { schema: { tags, querystring: listQuery, response: { 200: schedulePage, 400: errorBodySchema } } }, async (request) => schedules.list(request.query));

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
    '/:id/backfill',
    {
      schema: {
        tags,
        summary: `Run each tick of a past range once (at most ${MAX_BACKFILL_TICKS} ticks)`,
        params: idParams,
        body: backfillBody,
        response: { 202: backfillSchema, 400: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => reply.code(202).send(await schedules.backfill(request.params.id, request.body)),
  );

  app.post(
    '/:id/trigger',
    { schema: { tags, params: idParams, response: { 202: enqueuedSchema, 404: errorBodySchema } } },
    async (request, reply) => reply.code(202).send(await schedules.trigger(request.params.id)),
  );
};

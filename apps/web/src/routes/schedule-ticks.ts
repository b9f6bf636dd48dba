import { scheduleIdSchema, ScheduleStore } from '@drumline/core/runtime';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { InvalidCursorError } from '../errors/invalid-cursor-error.js';
import { UnknownTickError } from '../errors/unknown-tick-error.js';
import { errorBodySchema } from '../plugins/error-handler.js';
import { TickHistory, type TickPage, type TickView } from '../tick-history.js';

export const DEFAULT_TICKS_LIMIT = 100;
export const MAX_TICKS_LIMIT = 1000;

/** An instant: ISO 8601 with an offset, or epoch milliseconds. */
export const instant = z
  .union([z.string().regex(/^\d{1,15}$/).transform(Number), z.iso.datetime({ offset: true }).transform((iso) => Date.parse(iso))], {
    error: 'must be an ISO 8601 time with an offset (2026-12-02T02:00:00Z) or epoch milliseconds',
  })
  .pipe(z.number().int().min(0).max(8.64e15));

export const TICK_STATES = ['ran', 'failed', 'missed', 'pending', 'skipped:paused', 'skipped:overlap', 'skipped:changed', 'skipped:deleted'] as const;

const tickSchema = z.object({
  tick: z.iso.datetime().describe('The nominal tick'),
  state: z.enum(TICK_STATES).describe('ran, failed, missed, pending, or skipped:<reason>'),
  runId: z.string().nullable().describe('Its run in the jobs API and Bull Board; null when none was made'),
  attempts: z.number().describe('Attempts started'),
  latenessMs: z.number().nullable().describe('The first attempt started this long after the run was due'),
  durationMs: z.number().nullable().describe('How long the last attempt took, once it ended'),
  reason: z.string().nullable().describe('Why it failed, was skipped or missed'),
});

const countsSchema = z.object({ ran: z.number(), failed: z.number(), skipped: z.number(), missed: z.number(), pending: z.number() });

const tickPageSchema = z.object({
  ticks: z.array(tickSchema),
  counts: countsSchema.describe('Each state over the whole range asked for (`from`-`to`), not only this page'),
  nextCursor: z.string().nullable().describe('Pass it as `cursor` for the older ticks; null when there are none'),
});

const storySchema = tickSchema.extend({
  summary: z.string().describe('The story in one sentence'),
  events: z.array(
    z.object({
      at: z.iso.datetime(),
      actor: z.string().describe('scheduler <replica> (term <n>), or worker <host:pid>'),
      kind: z.string().describe('materialized, missed, withdrawn, started, completed, failed, requeued, skipped, duplicate'),
      text: z.string(),
    }),
  ),
});

const listQuery = z
  .strictObject({
    from: instant.optional().describe('Oldest tick to list (ISO 8601 or epoch ms); default: all the ledger keeps'),
    to: instant.optional().describe('Newest tick to list; default: the latest added'),
    limit: z.coerce.number().int().min(1).max(MAX_TICKS_LIMIT).default(DEFAULT_TICKS_LIMIT).describe(`Ticks per page, 1-${MAX_TICKS_LIMIT}`),
    cursor: z.string().min(1).max(200).optional().describe('`nextCursor` of the previous page'),
  })
  .refine((query) => query.from === undefined || query.to === undefined || query.from <= query.to, { path: ['to'], message: 'must not be before `from`' });

const iso = (ms: number) => new Date(ms).toISOString();

function tickView(tick: TickView): z.infer<typeof tickSchema> {
  return { ...tick, tick: iso(tick.tick) };
}

/** The cursor names its schedule and range, so that it cannot page another listing by mistake. */
function encodeCursor(id: string, range: { from?: number | undefined; to?: number | undefined }, before: number): string {
  return Buffer.from(JSON.stringify({ s: id, f: range.from ?? null, t: range.to ?? null, b: before })).toString('base64url');
}

function decodeCursor(cursor: string, id: string, range: { from?: number | undefined; to?: number | undefined }): number {
  let parsed: { s?: unknown; f?: unknown; t?: unknown; b?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as typeof parsed;
  } catch {
    throw new InvalidCursorError('is not a cursor this endpoint gave out; pass `nextCursor` from the previous page as it is');
  }
  if (typeof parsed.b !== 'number' || !Number.isSafeInteger(parsed.b)) throw new InvalidCursorError('is not a cursor this endpoint gave out; pass `nextCursor` from the previous page as it is');
  if (parsed.s !== id) throw new InvalidCursorError('belongs to the ticks of another schedule');
  if (parsed.f !== (range.from ?? null) || parsed.t !== (range.to ?? null)) throw new InvalidCursorError('belongs to a listing with another `from` or `to`; keep them while paging');
  return parsed.b;
}

/** A schedule's tick ledger: its recent ticks with their states, and one tick's story. */
export const scheduleTickRoutes: FastifyPluginAsyncZod = async (app) => {
  const history = new TickHistory(app.redis, new ScheduleStore(app.redis, app.queues.prefix), app.ledger);
  const tags = ['schedules'];
  const security = [{ apiToken: [] }];

  app.get(
    '/:id/ticks',
    {
      schema: {
        tags,
        security,
        summary: "A schedule's recent ticks, newest first, with what became of each",
        description:
          'From its tick ledger, which keeps the last TICK_LEDGER_MAX_TICKS ticks (1000) and none older than TICK_LEDGER_MAX_AGE_HOURS (168). ' +
          'A tick due more than 5 s ago that no scheduler added is listed as `missed` although the ledger has no entry for it.',
        params: z.object({ id: scheduleIdSchema }),
        querystring: listQuery,
        response: { 200: tickPageSchema, 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { from, to, limit, cursor } = request.query;
      const before = cursor === undefined ? undefined : decodeCursor(cursor, id, { from, to });
      const page: TickPage = await history.list(id, { from: from ?? 0, to: to ?? Number.MAX_SAFE_INTEGER, limit, before });
      return {
        ticks: page.ticks.map(tickView),
        counts: page.counts,
        nextCursor: page.nextBefore === null ? null : encodeCursor(id, { from, to }, page.nextBefore),
      };
    },
  );

  app.get(
    '/:id/ticks/:tick',
    {
      schema: {
        tags,
        security,
        summary: "One tick's story: who added it, which worker ran it, how late, how it ended, or why it never ran",
        params: z.object({ id: scheduleIdSchema, tick: instant }),
        response: { 200: storySchema, 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const { id, tick } = request.params;
      const story = await history.story(id, tick);
      if (!story) throw new UnknownTickError(id, tick);
      return { ...tickView(story), summary: story.summary, events: story.events.map((line) => ({ ...line, at: iso(line.at) })) };
    },
  );
};

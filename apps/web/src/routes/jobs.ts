import { codeScheduleRecords, InvalidPayloadError, QueueSet, UnknownJobError, jobIdSchema, type JobDefinition, type ScheduleRecord } from '@drumline/core/runtime';
import { PRIORITY_LIMIT } from 'bullmq';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorBodySchema } from '../plugins/error-handler.js';

export const MAX_BULK_ITEMS = 1000;

/** `opts` of an enqueue; Bull Board's add-job form checks its options with the same rules (dashboard.ts). */
export const enqueueOptionsSchema = z.strictObject({
  delay: z.int().min(0).optional().describe('Start no sooner than this many ms from now'),
  priority: z
    .int()
    .min(0)
    // BullMQ's own bound (2^21 - 1), so the schema and the documentation follow BullMQ upgrades.
    .max(PRIORITY_LIMIT)
    .optional()
    .describe('1 is the highest priority; 0 or unset runs before any prioritized run, in FIFO order'),
  // The id alphabet of packages/core (ids.ts): no ':', no lone surrogate, no `<schedule>@<ms>` of a schedule's run.
  jobId: jobIdSchema
    .optional()
    .describe('Idempotency key: sending the same id again adds nothing and answers 200 with the existing run, `duplicate: true`'),
});

const enqueuedSchema = z.object({
  id: z.string(),
  name: z.string(),
  queue: z.string(),
  duplicate: z
    .boolean()
    .describe('true (status 200): nothing was added, and `id` is the run that already existed, for this jobId or, for a job with `dedupe`, for this key within its window; false (202): a new run'),
  debounce: z
    .object({
      after: z.string().nullable().describe('The active run of the same key this one waits for, its data kept as the last; null when none was running'),
    })
    .optional()
    .describe('For a job with `debounce`: `id` carries this data and runs once the key has been quiet for the wait; a later enqueue of the key within it replaces this run'),
});
const enqueuedBulkSchema = z.object({
  ids: z.array(z.string()).describe("One per item, in order: a new run's id, or for a jobId already taken the existing run's"),
  name: z.string(),
  queue: z.string(),
  duplicates: z.array(z.string()).describe('The ids of `ids` that already existed, so nothing was added for them; status 200 when that is every item'),
});

function enqueueBodySchema(job: JobDefinition) {
  return z.strictObject({ data: job.schema, opts: enqueueOptionsSchema.optional() });
}

/**
 * Validates an enqueue body against its job's schema but hands the route the body as sent: a run's
 * data is stored in its input form (what `JobDataOf` types), and the worker parses it again, applying
 * defaults and transforms once. Issue paths are relative to the body (`data.to`, `items.3.opts.jobId`).
 * It is given the schema itself because Fastify types a route-level compiler's argument loosely.
 */
function validatorKeepingInput(job: JobDefinition, schema: z.ZodType) {
  return ({ httpPart }: { httpPart?: string }) => {
    if (httpPart !== 'body') throw new Error(`job \`${job.name}\`: enqueue routes validate their body only, not ${httpPart}`);
    return (body: unknown) => {
      const result = schema.safeParse(body);
      return result.success ? { value: body } : { error: InvalidPayloadError.fromZod(job.name, result.error) };
    };
  };
}

const scheduleSchema = z.object({
  id: z.string(),
  cron: z.string().optional(),
  tz: z.string().optional(),
  every: z.number().optional().describe('Interval in ms'),
  at: z.string().optional(),
  data: z.unknown(),
  policies: z
    .object({
      misfire: z.enum(['skip', 'once', 'all']),
      misfireCap: z.number(),
      misfireGraceMs: z.number().nullable().describe('null: missed ticks are not dropped for their age'),
      overlap: z.enum(['allow', 'skip', 'queue']),
      jitterMs: z.number(),
    })
    .describe('The policies in effect: those the schedule declares, and the defaults for the others'),
});

const jobSummarySchema = z.object({
  name: z.string(),
  queue: z.string(),
  attempts: z.number(),
  backoff: z.object({ type: z.enum(['fixed', 'exponential']), delayMs: z.number() }),
  timeoutMs: z.number(),
  payloadSchema: z.record(z.string(), z.unknown()).describe("JSON Schema of `data` (the job's zod schema, input side)"),
  schedules: z.array(scheduleSchema),
  flow: z
    .object({
      concurrency: z.object({ limit: z.number(), keyed: z.boolean() }).optional(),
      rateLimit: z.object({ max: z.number(), perMs: z.number(), keyed: z.boolean() }).optional(),
      dedupe: z.object({ ttlMs: z.number() }).optional(),
      debounce: z.object({ waitMs: z.number() }).optional(),
    })
    .describe('Flow control as declared: runs at once and starts per window (per key when `keyed`, else for the whole job), dedupe and debounce windows'),
});

function describeFlow({ concurrency, rateLimit, dedupe, debounce }: JobDefinition['flow']): z.input<typeof jobSummarySchema>['flow'] {
  return {
    ...(concurrency ? { concurrency: { limit: concurrency.limit, keyed: concurrency.keyed } } : {}),
    ...(rateLimit ? { rateLimit: { max: rateLimit.limit, perMs: rateLimit.windowMs, keyed: rateLimit.keyed } } : {}),
    ...(dedupe ? { dedupe: { ttlMs: dedupe.ttlMs } } : {}),
    ...(debounce ? { debounce: { waitMs: debounce.waitMs } } : {}),
  };
}

function describeJob(job: JobDefinition, schedules: readonly ScheduleRecord[]): z.input<typeof jobSummarySchema> {
  return {
    name: job.name,
    queue: job.queue,
    attempts: job.attempts,
    backoff: job.backoff,
    timeoutMs: job.timeoutMs,
    payloadSchema: z.toJSONSchema(job.schema, { io: 'input', unrepresentable: 'any' }),
    // The records the scheduler runs by, so the defaults shown are the ones applied.
    schedules: schedules.map(({ id, timing, data, misfire, misfireCap, misfireGraceMs, overlap, jitterMs }) => ({
      id,
      ...(timing.kind === 'cron' ? { cron: timing.cron, tz: timing.tz } : {}),
      ...(timing.kind === 'every' ? { every: timing.everyMs } : {}),
      ...(timing.kind === 'at' ? { at: new Date(timing.atMs).toISOString() } : {}),
      data,
      policies: { misfire, misfireCap, misfireGraceMs, overlap, jitterMs: jitterMs ?? 0 },
    })),
    flow: describeFlow(job.flow),
  };
}

const security = [{ apiToken: [] }];

/**
 * The enqueue routes answer objects they build themselves (and the error handler's): their response
 * schemas document them, and JSON.stringify writes them without parsing each one through zod first.
 */
const asJson = () => (data: unknown) => JSON.stringify(data);
const nameParams = z.object({ name: z.string() });

/** Enqueue runs (routes/runs.ts shows them). One route per job, so the OpenAPI document shows each job's payload. */
export const jobRoutes: FastifyPluginAsyncZod = async (app) => {
  const records = codeScheduleRecords(app.registry);
  const catalog = app.registry.jobs.map((job) => describeJob(job, records.filter((record) => record.job === job.name)));

  app.get(
    '',
    { schema: { tags: ['jobs'], summary: 'Every defined job: queue, retry policy, payload schema, schedules', security, response: { 200: z.array(jobSummarySchema) } } },
    async () => catalog,
  );

  for (const job of app.registry.jobs) {
    const about = `Queue \`${job.queue}\`, ${job.attempts} attempt(s), times out after ${job.timeoutMs} ms.`;
    const body = enqueueBodySchema(job);
    const bulkBody = z.strictObject({ items: z.array(body).min(1).max(MAX_BULK_ITEMS) });

    app.post(
      `/${job.name}`,
      {
        schema: {
          tags: ['jobs'],
          operationId: `enqueue-${job.name}`,
          summary: `Enqueue a run of ${job.name}`,
          description: about,
          security,
          body,
          response: { 200: enqueuedSchema, 202: enqueuedSchema, 400: errorBodySchema, 401: errorBodySchema, 413: errorBodySchema },
        },
        validatorCompiler: validatorKeepingInput(job, body),
        serializerCompiler: asJson,
      },
      async (request, reply) => {
        const { data, opts } = request.body;
        // The body validator has checked `data` against the job's schema: no second parse.
        const run = await app.queues.add(job, data, opts);
        const into = QueueSet.deduplicatedInto(run);
        if (job.flow.debounce) {
          return reply.code(202).send({ id: run.opts.jobId as string, name: job.name, queue: job.queue, duplicate: false, debounce: { after: into ?? null } });
        }
        // Only a run given a jobId can be one that existed: the others cost no second round trip.
        const [duplicate = into !== undefined] = opts?.jobId === undefined || into !== undefined ? [] : await app.queues.existedBefore(job, [run]);
        // BullMQ sets the id once add() resolves (the existing run's id for a repeated jobId or dedupe key).
        return reply.code(duplicate ? 200 : 202).send({ id: run.id as string, name: job.name, queue: job.queue, duplicate });
      },
    );

    app.post(
      `/${job.name}/bulk`,
      {
        schema: {
          tags: ['jobs'],
          operationId: `enqueue-${job.name}-bulk`,
          summary: `Enqueue 1 to ${MAX_BULK_ITEMS} runs of ${job.name}, all or none`,
          description: `${about} Every item is checked before any is added.`,
          security,
          body: bulkBody,
          response: { 200: enqueuedBulkSchema, 202: enqueuedBulkSchema, 400: errorBodySchema, 401: errorBodySchema, 413: errorBodySchema },
        },
        validatorCompiler: validatorKeepingInput(job, bulkBody),
        serializerCompiler: asJson,
      },
      async (request, reply) => {
        const items = request.body.items.map((item) => ({ data: item.data, options: item.opts }));
        const runs = await app.queues.addBulk(job, items);
        const keyed = runs.filter((run, index) => items[index]?.options?.jobId !== undefined && QueueSet.deduplicatedInto(run) === undefined);
        const existed = keyed.length === 0 ? [] : await app.queues.existedBefore(job, keyed);
        const deduplicated = job.flow.debounce ? [] : runs.filter((run) => QueueSet.deduplicatedInto(run) !== undefined);
        const duplicates = [...deduplicated, ...keyed.filter((_run, index) => existed[index])].map((run) => run.id as string);
        // A debounced item's id is the run carrying its data (BullMQ answers the active run's id).
        const ids = runs.map((run) => (job.flow.debounce ? (run.opts.jobId as string) : (run.id as string)));
        return reply.code(duplicates.length === runs.length ? 200 : 202).send({ ids, name: job.name, queue: job.queue, duplicates });
      },
    );
  }

  // Names not defined in packages/jobs: the static routes above take precedence over these.
  const unknownJob = { schema: { hide: true, params: nameParams } };
  app.post('/:name', unknownJob, async (request) => {
    throw new UnknownJobError(request.params.name);
  });
  app.post('/:name/bulk', unknownJob, async (request) => {
    throw new UnknownJobError(request.params.name);
  });
};

import { context, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { Queue, type Job, type JobsOptions, type KeepJobs } from 'bullmq';
import type { EventEmitter } from 'node:events';
import type { JobDefinition, RetentionPolicy } from './define-job.js';
import { FLOW_RESERVATION_OPTION, FlowAdmission, flowEnqueue, flowReservationOf, type FlowEnqueue } from './flow-enqueue.js';
import { InvalidIdError, InvalidPayloadError } from './errors/index.js';
import { isRunId, RUN_ID_RULE } from './ids.js';
import type { JobRegistry } from './job-registry.js';
import { drumlineKeys, keyLayoutOf, queuePrefix, type DrumlineKeys } from './keys.js';
import type { RedisHealth } from './redis-health.js';
import type { RedisConnection } from './redis.js';
import { runSpanAttributes, SpanAttributes } from './tracing/attributes.js';
import { failSpan } from './tracing/fail-span.js';
import { traceContextOptions } from './tracing/job-trace-context.js';

/** Per-call options of an enqueue, on top of the job's own retry and retention policy. */
export interface EnqueueOptions {
  /** Start no sooner than this many ms from now. */
  delay?: number;
  /** 1 is the highest priority; unset runs before any prioritized job, in FIFO order. */
  priority?: number;
  /** Idempotency key: enqueueing the same id again returns the existing run instead of adding one. A run id (ids.ts). */
  jobId?: string;
}

function keepJobsFor(retention: RetentionPolicy): KeepJobs {
  return retention.count === undefined ? { age: retention.ageSeconds } : { age: retention.ageSeconds, count: retention.count };
}

/**
 * BullMQ options derived from a job's definition, so every enqueue path applies the same policy.
 * @throws InvalidIdError for a `jobId` outside the run id alphabet: BullMQ would store a run its
 * workers can never finish (a lone surrogate) or refuse it only once in Redis (':').
 */
export function jobOptionsFor(job: JobDefinition, options: EnqueueOptions = {}): JobsOptions {
  if (options.jobId !== undefined && !isRunId(options.jobId)) throw new InvalidIdError('jobId', RUN_ID_RULE);
  return {
    attempts: job.attempts,
    backoff: { type: job.backoff.type, delay: job.backoff.delayMs },
    removeOnComplete: keepJobsFor(job.retention.completed),
    removeOnFail: keepJobsFor(job.retention.failed),
    ...(options.delay !== undefined ? { delay: options.delay } : {}),
    ...(options.priority !== undefined ? { priority: options.priority } : {}),
    ...(options.jobId !== undefined ? { jobId: options.jobId } : {}),
  };
}

/** Checks a payload against its job's schema. @throws InvalidPayloadError listing each field. */
export function assertValidPayload(job: JobDefinition, data: unknown, pathPrefix: (string | number)[] = []): void {
  const result = job.schema.safeParse(data);
  if (!result.success) throw InvalidPayloadError.fromZod(job.name, result.error, pathPrefix);
}

/**
 * One BullMQ `Queue` per queue name of the registry, sharing one connection,
 * and the enqueue path every producer (web, scheduler) goes through.
 */
export class QueueSet {
  private readonly queues = new Map<string, Queue>();
  private readonly admission: FlowAdmission;
  /** Drumline's keys under the same prefix, laid out for the connection. */
  readonly keys: DrumlineKeys;

  /**
   * `health`: the process's tracker, which hears the connection errors BullMQ re-emits on each queue.
   * `tracer`: with one (tracing on), each `add` and `addBulk` is an `enqueue` span, a child of the
   * active span, and its runs carry it (see traceContextOptions); without, no span code runs.
   */
  constructor(
    readonly registry: JobRegistry,
    private readonly connection: RedisConnection,
    readonly prefix: string,
    health?: RedisHealth,
    private readonly tracer?: Tracer,
  ) {
    this.admission = new FlowAdmission(connection, prefix);
    this.keys = drumlineKeys(prefix, keyLayoutOf(connection));
    for (const name of registry.queueNames) {
      const queue = new Queue(name, { connection, prefix: queuePrefix(prefix, name, keyLayoutOf(connection)) });
      health?.watch(queue);
      this.queues.set(name, queue);
    }
  }

  /** Every queue, in definition order. */
  all(): Queue[] {
    return [...this.queues.values()];
  }

  queueOf(job: JobDefinition): Queue {
    const queue = this.queues.get(job.queue);
    if (!queue) throw new Error(`queue \`${job.queue}\` of job \`${job.name}\` is not in this registry`);
    return queue;
  }

  /** Validates and adds one run. @throws UnknownJobError, InvalidPayloadError */
  async enqueue(jobName: string, data: unknown, options: EnqueueOptions = {}): Promise<Job> {
    const job = this.registry.get(jobName);
    assertValidPayload(job, data);
    return this.add(job, data, options);
  }

  /** Validates every payload first, then adds them all in one round trip, or none. */
  async enqueueBulk(jobName: string, items: { data: unknown; options?: EnqueueOptions }[]): Promise<Job[]> {
    const job = this.registry.get(jobName);
    items.forEach((item, index) => assertValidPayload(job, item.data, [index, 'data']));
    return this.addBulk(job, items);
  }

  /**
   * Adds one run without checking its payload: only for a caller that has just checked it against
   * `job.schema` itself (the HTTP routes validate the whole body). Everyone else calls `enqueue`.
   */
  add(job: JobDefinition, data: unknown, options: EnqueueOptions = {}): Promise<Job> {
    if (this.tracer) return this.traced(this.tracer, job, 1, async (traceOptions) => [await this.addOne(job, data, options, traceOptions)]).then(([run]) => run as Job);
    return this.addOne(job, data, options, undefined);
  }

  /** `add` for many runs, in one round trip; the same proviso holds. Every flow key is checked before any run is added. */
  addBulk(job: JobDefinition, items: { data: unknown; options?: EnqueueOptions }[]): Promise<Job[]> {
    if (this.tracer) return this.traced(this.tracer, job, items.length, (traceOptions) => this.addMany(job, items, traceOptions));
    return this.addMany(job, items, undefined);
  }

  private async addOne(job: JobDefinition, data: unknown, options: EnqueueOptions, traceOptions: JobsOptions | undefined): Promise<Job> {
    const opts = await this.optionsWithFlow(job, options, flowEnqueue(job, data, options));
    return this.queueOf(job).add(job.name, data, traceOptions ? { ...opts, ...traceOptions } : opts);
  }

  private async addMany(job: JobDefinition, items: { data: unknown; options?: EnqueueOptions }[], traceOptions: JobsOptions | undefined): Promise<Job[]> {
    const flows = items.map((item, index) => flowEnqueue(job, item.data, item.options ?? {}, `items.${index}.data`));
    const opts = await Promise.all(items.map((item, index) => this.optionsWithFlow(job, item.options ?? {}, flows[index] as FlowEnqueue)));
    return this.queueOf(job).addBulk(items.map((item, index) => ({ name: job.name, data: item.data, opts: traceOptions ? { ...opts[index], ...traceOptions } : opts[index] })));
  }

  /** Runs `add` within an `enqueue <job>` span, child of the active one, whose context the runs carry. */
  private async traced(tracer: Tracer, job: JobDefinition, count: number, add: (traceOptions: JobsOptions) => Promise<Job[]>): Promise<Job[]> {
    const parent = context.active();
    const span = tracer.startSpan(
      `enqueue ${job.name}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: { ...runSpanAttributes('send', job.queue, job.name), ...(count === 1 ? {} : { [SpanAttributes.messagingBatchCount]: count }) },
      },
      parent,
    );
    try {
      const runs = await add(traceContextOptions(trace.setSpan(parent, span)));
      if (count === 1 && runs[0]?.id !== undefined) span.setAttribute(SpanAttributes.messagingMessageId, runs[0].id);
      return runs;
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /** After `run` of `job` was removed before it started: gives back the flow place it took at enqueue, if it took one. */
  async withdrawn(job: JobDefinition, run: Job): Promise<void> {
    if (flowReservationOf(run.opts) === undefined) return;
    await this.admission.withdraw(job, flowEnqueue(job, run.data, { jobId: run.id as string }).limits, run.id as string);
  }

  /** A run under a limit whose key is full starts delayed by its wait in line; one asked to start later is judged when it does. */
  private async optionsWithFlow(job: JobDefinition, options: EnqueueOptions, flow: FlowEnqueue): Promise<JobsOptions> {
    const opts = { ...jobOptionsFor(job, options), ...flow.options };
    if (flow.limits.length === 0 || (opts.delay ?? 0) > 0) return opts;
    const { waitMs, heldUntil } = await this.admission.admit(job, flow.limits, opts.jobId as string, flow.reservable);
    if (heldUntil !== undefined) return { ...opts, [FLOW_RESERVATION_OPTION]: heldUntil } as JobsOptions;
    return waitMs > 0 ? { ...opts, delay: waitMs } : opts;
  }

  /**
   * How flow control answered an enqueue of a dedupe or debounce job: BullMQ gives back another
   * run's id than the one it was sent with when it deduplicated (dedupe: that run is this enqueue;
   * debounce: that run is active, and this one's data becomes the run after it).
   */
  static deduplicatedInto(run: Job): string | undefined {
    const sent = run.opts.jobId;
    return sent !== undefined && run.id !== undefined && run.id !== sent ? run.id : undefined;
  }

  /**
   * Which of `runs`, just returned by `add` or `addBulk`, were there before: BullMQ answers a jobId
   * it already has with that run's id and adds nothing, and says so only in its event stream. A run
   * it added has the creation time it was sent with; an existing one keeps its own. One round trip
   * for them all, so call it only for runs given a `jobId`: others are always new. Two requests
   * racing with the same new jobId in the same millisecond can both read as new.
   */
  async existedBefore(job: JobDefinition, runs: readonly Job[]): Promise<boolean[]> {
    const queue = this.queueOf(job);
    const pipeline = this.connection.pipeline();
    for (const run of runs) pipeline.hget(queue.toKey(run.id as string), 'timestamp');
    const replies = (await pipeline.exec()) ?? [];
    return runs.map((run, index) => {
      const [error, stored] = replies[index] ?? [null, null];
      if (error) throw error;
      // Gone already (run and removed by its retention): it was this request's.
      return stored !== null && stored !== String(run.timestamp);
    });
  }

  /** Finds a run of `jobName` by id; undefined when unknown or belonging to another job. */
  async findRun(jobName: string, runId: string): Promise<Job | undefined> {
    const job = this.registry.get(jobName);
    const run = await this.queueOf(job).getJob(runId);
    return run && run.name === job.name ? run : undefined;
  }

  /** Closes the queues; the shared connection stays open for its owner to close afterwards. */
  async close(): Promise<void> {
    await Promise.all(this.all().map((queue) => queue.close()));
    // BullMQ (5.81) reports a shared connection that never became ready by emitting 'error' on each
    // queue's connection object once the connection ends, even after close() removed every listener:
    // the throw surfaces as an unhandled rejection (taskforcesh/bullmq#4225). Absorb it here.
    for (const queue of this.all()) (queue as unknown as { connection: EventEmitter }).connection.on('error', () => {});
  }
}

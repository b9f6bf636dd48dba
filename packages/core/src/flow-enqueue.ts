import type { JobsOptions } from 'bullmq';
import { randomUUID } from 'node:crypto';
import type { JobDefinition } from './define-job.js';
import { flowKey, type FlowLimit, type RateLimit } from './flow-policy.js';
import { FLOW_STALE_MS, flowWaitMs } from './flow-wait.js';
import { drumlineKeys, keyLayoutOf, type DrumlineKeys } from './keys.js';
import type { EnqueueOptions } from './queues.js';
import { parseScheduledRunId } from './scheduled-run-id.js';
import type { RedisConnection } from './redis.js';
import { luaScript } from './scripts.js';

/** BullMQ's deduplication id of a job's dedupe or debounce key: one namespace per job. */
export function deduplicationId(job: JobDefinition, key: string): string {
  return `${job.name}:${key}`;
}

/** A limit an enqueued run is under, with its key for that run's payload. */
export interface KeyedLimit {
  control: 'concurrency' | 'rate';
  key: string;
  limit: FlowLimit | RateLimit;
}

/** What flow control makes of one enqueue: BullMQ options to add, and the limits the run waits for. */
export interface FlowEnqueue {
  options: JobsOptions;
  limits: KeyedLimit[];
  /** It may take its concurrency place at enqueue (see FlowAdmission): its id is new, and nothing but that limit applies. */
  reservable: boolean;
}

/**
 * How long a concurrency place taken at enqueue waits for its run to start: the default
 * WORKER_LOCK_MS, so that a place taken for a run that was then removed comes back as soon as a
 * dead worker's would.
 */
export const FLOW_RESERVATION_MS = 30_000;

/**
 * The job option (BullMQ keeps options it does not know) carrying until when (epoch ms) the run
 * holds the concurrency place it took at enqueue.
 */
export const FLOW_RESERVATION_OPTION = 'drumlineFlowHeldUntil';

/** Until when `opts` says its run holds a place taken at enqueue, if it does. */
export function flowReservationOf(opts: object): number | undefined {
  const until = (opts as Record<string, unknown>)[FLOW_RESERVATION_OPTION];
  return typeof until === 'number' ? until : undefined;
}

/** What a flow limit's admission at enqueue said. */
export interface Admission {
  /** How long the run must wait before it may start (0: it may now). */
  waitMs: number;
  /** Until when (epoch ms) it holds the place it took, when it took one. */
  heldUntil?: number;
}

const NO_FLOW: FlowEnqueue = Object.freeze({ options: Object.freeze({}), limits: [], reservable: false });

/**
 * What flow control makes of one enqueue, its keys checked first: a key function that throws or
 * returns no key is the request's fault, and nothing is added.
 *
 * Dedupe is BullMQ's throttle mode (the first run's id answers every enqueue within `ttlMs`);
 * debounce is its replace mode with `keepLastIfActive`: an enqueue replaces the key's delayed run
 * and starts its wait again, and one made while that run is active becomes the run after it. Both
 * get a fresh `jobId` unless the caller gave one, so a deduplicated enqueue shows as BullMQ
 * answering another id. A schedule's runs (`<schedule>@<tick>`, run now, backfill) are exact
 * already and never deduplicated.
 * @throws InvalidFlowKeyError
 */
export function flowEnqueue(job: JobDefinition, data: unknown, options: EnqueueOptions, path?: string): FlowEnqueue {
  const { concurrency, rateLimit, dedupe, debounce } = job.flow;
  if (!concurrency && !rateLimit && !dedupe && !debounce) return NO_FLOW;
  // Key functions take the payload as the worker sees it, after the schema's defaults and transforms.
  const parsed = concurrency?.keyed || rateLimit?.keyed || dedupe || debounce ? job.schema.parse(data) : data;
  const limits: KeyedLimit[] = [];
  if (concurrency) limits.push({ control: 'concurrency', key: flowKey(job.name, 'concurrency', concurrency.key, parsed, path), limit: concurrency });
  if (rateLimit) limits.push({ control: 'rate', key: flowKey(job.name, 'rateLimit', rateLimit.key, parsed, path), limit: rateLimit });
  const scheduled = options.jobId !== undefined && parseScheduledRunId(options.jobId) !== undefined;
  // Runs under a limit need their id before they are added: it is their place in line.
  const jobId = options.jobId ?? randomUUID();
  if (dedupe && !scheduled) return { limits, reservable: false, options: { jobId, deduplication: { id: deduplicationId(job, flowKey(job.name, 'dedupe', dedupe.key, parsed, path)), ttl: dedupe.ttlMs } } };
  if (debounce && !scheduled) {
    const id = deduplicationId(job, flowKey(job.name, 'debounce', debounce.key, parsed, path));
    return { limits, reservable: false, options: { jobId, delay: Math.max(options.delay ?? 0, debounce.waitMs), deduplication: { id, replace: true, keepLastIfActive: true } } };
  }
  // A caller's jobId may name a run that exists, or has finished: a place taken for it would be held by nobody.
  const reservable = options.jobId === undefined && concurrency !== undefined && !rateLimit;
  return { limits, reservable, options: limits.length > 0 ? { jobId } : {} };
}

/**
 * Admission at enqueue: a run whose key is at its limit joins the key's line now and is added
 * delayed by its wait, instead of waiting in the queue, where a flood of one key's runs would hold
 * every other key's runs behind it until the workers had taken each one just to put it in line.
 * The worker's FlowGate decides for real; this only keeps the queue for runs that may start.
 */
export class FlowAdmission {
  private readonly keys: DrumlineKeys;
  private readonly admitScript;

  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
  ) {
    this.keys = drumlineKeys(prefix, keyLayoutOf(redis));
    this.admitScript = luaScript(redis, 'flow-admit');
  }

  /**
   * How long run `runId` of `job` must wait for its limits before it may start. With `reserve`
   * (a run with a concurrency limit only and an id of its own), a run that nobody waits ahead of
   * takes its place now, and its worker starts it without asking again.
   */
  async admit(job: JobDefinition, limits: readonly KeyedLimit[], runId: string, reserve = false, now = Date.now()): Promise<Admission> {
    let waitMs = 0;
    let heldUntil: number | undefined;
    for (const { control, key, limit } of limits) {
      const keys = this.keys.flow(job.name, control, key);
      const reply = (await this.admitScript([keys.slots, keys.line, keys.seen, keys.seq], [runId, limit.limit, now, now, FLOW_STALE_MS, reserve ? FLOW_RESERVATION_MS : 0])) as number[];
      if (reply[0] === 2) heldUntil = Number(reply[1]);
      if (reply[0] === 0) waitMs = Math.max(waitMs, flowWaitMs(limit, Number(reply[1]), Number(reply[2]), now));
    }
    return heldUntil === undefined ? { waitMs } : { waitMs, heldUntil };
  }

  /** Gives back the concurrency place a run removed before it started had taken at enqueue, so nobody waits for it to lapse. */
  async withdraw(job: JobDefinition, limits: readonly KeyedLimit[], runId: string): Promise<void> {
    for (const { control, key } of limits) if (control === 'concurrency') await this.redis.zrem(this.keys.flow(job.name, control, key).slots, runId);
  }
}

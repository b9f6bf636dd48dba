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
}

const NO_FLOW: FlowEnqueue = Object.freeze({ options: Object.freeze({}), limits: [] });

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
  if (dedupe && !scheduled) return { limits, options: { jobId, deduplication: { id: deduplicationId(job, flowKey(job.name, 'dedupe', dedupe.key, parsed, path)), ttl: dedupe.ttlMs } } };
  if (debounce && !scheduled) {
    const id = deduplicationId(job, flowKey(job.name, 'debounce', debounce.key, parsed, path));
    return { limits, options: { jobId, delay: Math.max(options.delay ?? 0, debounce.waitMs), deduplication: { id, replace: true, keepLastIfActive: true } } };
  }
  return { limits, options: limits.length > 0 ? { jobId } : {} };
}

/**
 * Admission at enqueue: a run whose key is at its limit joins the key's line now and is added
 * delayed by its wait, instead of waiting in the queue, where a flood of one key's runs would hold
 * every other key's runs behind it until the workers had taken each one just to put it in line.
 * The worker's FlowGate decides for real; this only keeps the queue for runs that may start.
 */
export class FlowAdmission {
  private readonly keys: DrumlineKeys;
  private readonly admit;

  constructor(redis: RedisConnection, prefix: string) {
    this.keys = drumlineKeys(prefix, keyLayoutOf(redis));
    this.admit = luaScript(redis, 'flow-admit');
  }

  /** How long run `runId` of `job` must wait for its limits before it may start (0: it may now). */
  async waitFor(job: JobDefinition, limits: readonly KeyedLimit[], runId: string, now = Date.now()): Promise<number> {
    let wait = 0;
    for (const { control, key, limit } of limits) {
      const keys = this.keys.flow(job.name, control, key);
      const reply = (await this.admit([keys.slots, keys.line, keys.seen, keys.seq], [runId, limit.limit, now, now, FLOW_STALE_MS])) as number[];
      if (reply[0] === 0) wait = Math.max(wait, flowWaitMs(limit, Number(reply[1]), Number(reply[2]), now));
    }
    return wait;
  }
}

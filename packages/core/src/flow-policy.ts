import { InvalidFlowKeyError, JobDefinitionError } from './errors/index.js';

/** A function of a run's payload (as the schema outputs it) naming the key a limit applies to. */
export type FlowKeyOf<Data> = (data: Data) => string;

/** At most `limit` runs of the job at once for one key, over every worker (no `key`: for the whole job). */
export interface ConcurrencyDeclaration<Data> {
  limit: number;
  key?: FlowKeyOf<Data>;
}

/** At most `max` runs start in any `perMs` window for one key (no `key`: for the whole job). */
export interface RateLimitDeclaration<Data> {
  max: number;
  perMs: number;
  key?: FlowKeyOf<Data>;
}

/** A second enqueue with the same key within `ttlMs` of the first is that run, not a new one. */
export interface DedupeDeclaration<Data> {
  key: FlowKeyOf<Data>;
  ttlMs: number;
}

/** Enqueues with the same key collapse into one run, with the last one's data, `waitMs` after the last. */
export interface DebounceDeclaration<Data> {
  key: FlowKeyOf<Data>;
  waitMs: number;
}

/** A job's flow control, as declared on `defineJob` and checked there. */
export interface FlowDeclarations<Data> {
  concurrency?: ConcurrencyDeclaration<Data>;
  rateLimit?: RateLimitDeclaration<Data>;
  dedupe?: DedupeDeclaration<Data>;
  debounce?: DebounceDeclaration<Data>;
}

/** A limit as the framework keeps it: the key function is always there (the whole job's key is `*`). */
export interface FlowLimit {
  /** Runs at once (concurrency) or starts per window (rate limit). */
  readonly limit: number;
  /** Declared with a key function; without one the whole job shares one key. */
  readonly keyed: boolean;
  readonly key: (data: unknown) => string;
}

/** A rate limit: `limit` starts per `windowMs`. */
export interface RateLimit extends FlowLimit {
  readonly windowMs: number;
}

export interface FlowPolicy {
  readonly concurrency?: FlowLimit;
  readonly rateLimit?: RateLimit;
  readonly dedupe?: { readonly ttlMs: number; readonly key: (data: unknown) => string };
  readonly debounce?: { readonly waitMs: number; readonly key: (data: unknown) => string };
}

/** The longest key a flow-control key function may return: keys go into Redis key names and URLs. */
export const MAX_FLOW_KEY_LENGTH = 256;
const WHOLE_JOB = () => '*';

function count(value: unknown, what: string, owner: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new JobDefinitionError(`${owner}: ${what} must be a whole number from 1 to ${max} (got ${String(value)})`);
  }
  return value;
}

function keyFunction(value: unknown, what: string, owner: string): (data: unknown) => string {
  if (typeof value !== 'function') throw new JobDefinitionError(`${owner}: ${what} must be a function of the payload returning a string`);
  return value as (data: unknown) => string;
}

function limitOf(declared: { key?: unknown }, limit: number, what: string, owner: string): FlowLimit {
  const keyed = declared.key !== undefined;
  return { limit, keyed, key: keyed ? keyFunction(declared.key, `${what}.key`, owner) : WHOLE_JOB };
}

/** Checks a job's flow declarations. @throws JobDefinitionError naming the job and the field */
export function checkedFlowPolicy(input: FlowDeclarations<never>, owner: string): FlowPolicy {
  const policy: { -readonly [K in keyof FlowPolicy]: FlowPolicy[K] } = {};
  const { concurrency, rateLimit, dedupe, debounce } = input as FlowDeclarations<unknown>;
  if (concurrency !== undefined) policy.concurrency = Object.freeze(limitOf(concurrency, count(concurrency.limit, 'concurrency.limit', owner, 10_000), 'concurrency', owner));
  if (rateLimit !== undefined) {
    const windowMs = count(rateLimit.perMs, 'rateLimit.perMs', owner, 24 * 3600_000);
    policy.rateLimit = Object.freeze({ ...limitOf(rateLimit, count(rateLimit.max, 'rateLimit.max', owner, 10_000), 'rateLimit', owner), windowMs });
  }
  if (dedupe !== undefined && debounce !== undefined) throw new JobDefinitionError(`${owner}: declare dedupe or debounce, not both: a debounced run is deduplicated already`);
  if (dedupe !== undefined) policy.dedupe = Object.freeze({ ttlMs: count(dedupe.ttlMs, 'dedupe.ttlMs', owner, 30 * 24 * 3600_000), key: keyFunction(dedupe.key, 'dedupe.key', owner) });
  if (debounce !== undefined) policy.debounce = Object.freeze({ waitMs: count(debounce.waitMs, 'debounce.waitMs', owner, 24 * 3600_000), key: keyFunction(debounce.key, 'debounce.key', owner) });
  return Object.freeze(policy);
}

/**
 * The key of `control` for a payload. Run at enqueue (a bad key is the request's fault: 400, nothing
 * added) and again by the worker, so key functions must be pure functions of the payload.
 * @throws InvalidFlowKeyError when the function throws or returns no 1-256 character string
 */
export function flowKey(jobName: string, control: 'concurrency' | 'rateLimit' | 'dedupe' | 'debounce', key: (data: unknown) => string, data: unknown, path?: string): string {
  let value: unknown;
  try {
    value = key(data);
  } catch (error) {
    throw new InvalidFlowKeyError(jobName, control, `threw: ${error instanceof Error ? error.message : String(error)}`, path);
  }
  if (typeof value !== 'string') throw new InvalidFlowKeyError(jobName, control, `returned ${value === null ? 'null' : typeof value}, not a string`, path);
  if (value.length === 0 || value.length > MAX_FLOW_KEY_LENGTH) throw new InvalidFlowKeyError(jobName, control, `returned a string of ${value.length} characters; a key has 1-${MAX_FLOW_KEY_LENGTH}`, path);
  return value;
}

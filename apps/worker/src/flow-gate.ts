import { drumlineKeys, FLOW_STALE_MS, flowKey, flowReservationOf, flowWaitMs, keyLayoutOf, luaScript, queuePrefix, type DrumlineKeys, type FlowLimit, type JobDefinition, type RedisConnection } from '@drumline/core/runtime';
import { DelayedError, Queue, type Job } from 'bullmq';
import { ReleaseBatch } from './release-batch.js';

export interface FlowGateOptions {
  /** How long a concurrency place outlives a dead worker: WORKER_LOCK_MS; renewed while the run runs. */
  holdMs: number;
  /** Where places are given back, if not on the acquiring connection (the gate's: off BullMQ's). */
  releaseConnection?: RedisConnection;
  /** Told of each run put in line: `drumline_flow_waits_total`. */
  onWait?: (job: string, control: 'concurrency' | 'rate') => void;
}

/** What a run that passed flow control holds: give it back once the run ends, however it ends. */
export interface FlowPass {
  /** It had waited in a line first: late by design, never dropped as a misfire. */
  readonly waited: boolean;
  /** The time (ms) its rate limit counted its start at, when it has one. */
  readonly countedAt?: number;
  release(): Promise<void>;
}

const NOTHING_HELD: FlowPass = Object.freeze({ waited: false, release: async () => undefined });

type Keys = ReturnType<DrumlineKeys['flow']>;

/** How far the web's clock, which dated a place taken at enqueue, may be ahead of this host's. */
const CLOCK_MARGIN_MS = 2000;

/**
 * A job's concurrency and rate limits, over every worker: before its handler, a run takes a place
 * for its key (a slot while it runs, or a start in the window) in Redis, or waits in the key's line
 * (first come, first served by enqueue time) as a delayed job, not in a worker slot, and is never
 * failed or dropped for it. A run that ends wakes the heads of its key's line; a dead worker's slot
 * lapses after `holdMs`, and the heads look again every second anyway.
 */
export class FlowGate {
  private readonly keys: DrumlineKeys;
  private readonly acquire;
  private readonly releases: ReleaseBatch;
  /** For waking runs in line: one BullMQ queue handle per queue name, on this gate's connection. */
  private readonly queues = new Map<string, Queue>();
  /** Releases under way: a run's slot is given back after its processor returned, off its critical path. */
  private readonly releasing = new Set<Promise<void>>();

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    private readonly options: FlowGateOptions,
  ) {
    this.keys = drumlineKeys(prefix, keyLayoutOf(redis));
    this.acquire = luaScript(redis, 'flow-acquire');
    this.releases = new ReleaseBatch(options.releaseConnection ?? redis);
  }

  /**
   * Takes what the run needs, or puts it in line (`job.moveToDelayed`) and throws BullMQ's
   * DelayedError, which ends the attempt without spending it.
   * @throws InvalidFlowKeyError when a key function fails on the payload
   */
  async pass(job: Job, token: string | undefined, definition: JobDefinition, data: unknown): Promise<FlowPass> {
    const { concurrency, rateLimit } = definition.flow;
    if (!concurrency && !rateLimit) return NOTHING_HELD;
    const runId = job.id as string;
    let waited = false;
    let slot: FlowPass | undefined;
    if (concurrency) {
      const keys = this.keys.flow(definition.name, 'concurrency', flowKey(definition.name, 'concurrency', concurrency.key, data));
      const reservedFor = this.reservedFor(job);
      if (reservedFor === undefined) {
        const answer = await this.take(keys, runId, runId, concurrency, this.options.holdMs, job.timestamp);
        if (answer.wait) return this.park(job, token, definition.name, 'concurrency', flowWaitMs(concurrency, answer.rank, answer.lapse, Date.now()));
        waited = answer.waited;
      }
      slot = this.held(job, keys, concurrency.limit, reservedFor);
    }
    if (rateLimit) {
      const keys = this.keys.flow(definition.name, 'rate', flowKey(definition.name, 'rateLimit', rateLimit.key, data));
      // One start per attempt: the same attempt asking again (a lost answer) is not counted twice.
      const countedAt = Date.now();
      const answer = await this.take(keys, `${runId}#${job.attemptsStarted}`, runId, rateLimit, rateLimit.windowMs, job.timestamp, countedAt);
      if (answer.wait) {
        await slot?.release();
        return this.park(job, token, definition.name, 'rate', flowWaitMs(rateLimit, answer.rank, answer.lapse, Date.now()));
      }
      return { waited: waited || answer.waited, countedAt, release: slot ? () => slot.release() : NOTHING_HELD.release };
    }
    return { waited, release: slot ? () => slot.release() : NOTHING_HELD.release };
  }

  /** Waits for the releases under way, then closes its queue handles. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.releasing]);
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
  }

  private async take(keys: Keys, holder: string, runId: string, limit: FlowLimit, holdMs: number, arrival: number, now = Date.now()) {
    const reply = (await this.acquire([keys.slots, keys.line, keys.seen], [holder, runId, limit.limit, now, holdMs, arrival, FLOW_STALE_MS])) as number[];
    if (reply[0] === 1) return { wait: false as const, waited: reply[1] === 1 };
    return { wait: true as const, rank: Number(reply[1]), lapse: Number(reply[2]) };
  }

  private async park(job: Job, token: string | undefined, name: string, control: 'concurrency' | 'rate', waitMs: number): Promise<never> {
    this.options.onWait?.(name, control);
    await job.moveToDelayed(Date.now() + waitMs, token);
    throw new DelayedError();
  }

  /**
   * How much longer (ms) the place this run took at enqueue is surely still its own, when the run
   * may start on it without asking Redis: a first attempt, with more than CLOCK_MARGIN_MS of it
   * left by this host's clock (the web's set it), and no more than `holdMs`, so that a place held
   * by a worker that then dies lapses as soon as one it asked for would.
   */
  private reservedFor(job: Job): number | undefined {
    const until = flowReservationOf(job.opts);
    if (until === undefined || job.attemptsStarted > 1) return undefined;
    const left = until - Date.now();
    return left > CLOCK_MARGIN_MS && left <= this.options.holdMs ? left - CLOCK_MARGIN_MS : undefined;
  }

  /**
   * A concurrency slot: renewed while the run runs (first within `reservedFor`, for a place taken
   * at enqueue), given back (and the line woken) once.
   */
  private held(job: Job, keys: Keys, limit: number, reservedFor?: number): FlowPass {
    const holder = job.id as string;
    const holdMs = this.options.holdMs;
    const everyMs = Math.max(100, Math.floor(holdMs / 3));
    let renewal: NodeJS.Timeout;
    const renewIn = (ms: number) => {
      renewal = setTimeout(() => {
        void this.redis.zadd(keys.slots, 'XX', Date.now() + holdMs, holder).catch(() => undefined);
        renewIn(everyMs);
      }, ms);
      renewal.unref();
    };
    renewIn(reservedFor === undefined ? everyMs : Math.min(everyMs, Math.floor(reservedFor / 2)));
    let released: Promise<void> | undefined;
    return {
      waited: false,
      release: () => {
        if (!released) {
          clearTimeout(renewal);
          const giving = this.wakeHeads(job.queueName, keys, holder, limit);
          released = giving.finally(() => this.releasing.delete(giving));
          this.releasing.add(giving);
        }
        return released;
      },
    };
  }

  /**
   * Gives back `holder`'s place and moves the runs at the head of the line from delayed to their
   * queue. A head that will never ask (removed, or a finished run's id enqueued again) is dropped
   * from the line, and the one behind it woken instead.
   */
  private async wakeHeads(queueName: string, keys: Keys, holder: string, limit: number): Promise<void> {
    for (let round = 0, giveBack = holder; round < 10; round += 1, giveBack = '') {
      const heads = await this.releases.release(keys.slots, keys.line, giveBack, limit);
      if (heads.length === 0) return; // nobody waits: the common case, kept cheap
      let queue = this.queues.get(queueName);
      if (!queue) this.queues.set(queueName, (queue = new Queue(queueName, { connection: this.redis, prefix: queuePrefix(this.prefix, queueName, keyLayoutOf(this.redis)) })));
      const dropped = (await Promise.all(heads.map((id) => this.wake(queue, id)))).filter((id): id is string => id !== undefined);
      if (dropped.length === 0) return;
      await this.redis.multi().zrem(keys.line, ...dropped).zrem(keys.seen, ...dropped).exec();
    }
  }

  /** Promotes a delayed run; one already on its way is left alone; returns the id of one that will never ask. */
  private async wake(queue: Queue, runId: string): Promise<string | undefined> {
    const run = await queue.getJob(runId);
    if (!run) return runId;
    const state = await run.getState();
    if (state === 'completed' || state === 'failed' || state === 'unknown') return runId;
    if (state === 'delayed') await run.promote().catch(() => undefined); // it may have left delayed meanwhile
    return undefined;
  }
}

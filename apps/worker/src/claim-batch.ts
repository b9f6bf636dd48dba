import { luaScript, type DrumlineKeys, type RedisConnection } from '@drumline/core/runtime';

/** One scheduled run asking to start (see lua/claim-ticks.lua). */
export interface ClaimRequest {
  runId: string;
  /** Its BullMQ job's hash: once the run enters, processedOn becomes `startedAt`, and the first attempt's start is kept there. */
  jobKey: string;
  scheduleId: string;
  /** The job's creation time: a later job with the same id is a re-added duplicate. */
  createdAt: number;
  /** The run's `active` last run as JSON, to take the overlap lock and record it; '' to only check. */
  active: string;
  manual: boolean;
  /** When this attempt starts, as in `active`. */
  startedAt: number;
}

/**
 * `duplicate` or `deleted`; or `ok` with the schedule's record (JSON), 1 if paused, how far the run
 * got in, and once `entered` when its first attempt started (as now recorded in its last run).
 */
export type ClaimReply = [verdict: string, record?: string, paused?: number, entry?: 'checked' | 'entered' | 'locked', firstStartedAt?: number];

/** A script call stays short however many runs are due at once: Redis serves nobody else while it runs. */
const MAX_PER_CALL = 500;

/**
 * Sends the claims asked for in one turn of the event loop as one script call. The runs of a tick
 * are held until it and then all ask at once: 500 of them were 500 round trips, each encoded,
 * written, dispatched and answered on its own, and the last handler started tens of ms late.
 */
export class ClaimBatch {
  private readonly script;
  private pending: { request: ClaimRequest; resolve: (reply: ClaimReply) => void; reject: (error: unknown) => void }[] = [];

  constructor(
    redis: RedisConnection,
    private readonly keys: DrumlineKeys,
    private readonly options: { tickClaimSeconds: number; overlapLockMs: number },
  ) {
    this.script = luaScript(redis, 'claim-ticks', new URL('./lua/', import.meta.url));
  }

  claim(request: ClaimRequest): Promise<ClaimReply> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.flush());
      this.pending.push({ request, resolve, reject });
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    for (let start = 0; start < batch.length; start += MAX_PER_CALL) {
      const part = batch.slice(start, start + MAX_PER_CALL);
      this.send(part.map(({ request }) => request)).then(
        (replies) => part.forEach(({ resolve }, index) => resolve(replies[index] as ClaimReply)),
        (error: unknown) => part.forEach(({ reject }) => reject(error)),
      );
    }
  }

  private async send(requests: ClaimRequest[]): Promise<ClaimReply[]> {
    const { keys } = this;
    const runKeys: string[] = [];
    const runArgs: (string | number)[] = [];
    for (const { runId, jobKey, scheduleId, createdAt, active, manual, startedAt } of requests) {
      runKeys.push(keys.tickClaim(runId), keys.overlapLock(scheduleId), jobKey);
      runArgs.push(createdAt, scheduleId, active, manual ? '1' : '0', runId, startedAt);
    }
    return (await this.script(
      [keys.schedules, keys.schedulesPaused, keys.lastRuns, ...runKeys],
      [this.options.tickClaimSeconds, this.options.overlapLockMs, ...runArgs],
    )) as ClaimReply[];
  }
}

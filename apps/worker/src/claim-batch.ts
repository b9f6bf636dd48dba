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
  /** A worker took the job before this attempt (BullMQ's attemptsStarted > 1): an earlier attempt may have started it. */
  takenBefore: boolean;
}

/**
 * `duplicate` or `deleted`; or `ok` with the schedule's record (JSON), 1 if paused, how far the run
 * got in, and once `entered` when its first attempt started (as now recorded in its last run).
 */
export type ClaimReply = [verdict: string, record?: string, paused?: number, entry?: 'checked' | 'entered' | 'locked', firstStartedAt?: number];

/** A script call stays short however many runs are due at once: Redis serves nobody else while it runs. */
const MAX_PER_CALL = 500;

/** Where a job keeps its first attempt's start: the field claim-ticks.lua and mark-run-started.lua write. */
const FIRST_START = 'drumline:firstStartedOn';

/**
 * Sends the claims asked for in one turn of the event loop as one script call. The runs of a tick
 * are held until it and then all ask at once: 500 of them were 500 round trips, each encoded,
 * written, dispatched and answered on its own, and the last handler started tens of ms late.
 */
export class ClaimBatch {
  private readonly script;
  private readonly markStarted;
  private pending: { request: ClaimRequest; resolve: (reply: ClaimReply) => void; reject: (error: unknown) => void }[] = [];

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: DrumlineKeys,
    private readonly options: { tickClaimSeconds: number; overlapLockMs: number },
  ) {
    const dir = new URL('./lua/', import.meta.url);
    this.script = luaScript(redis, 'claim-ticks', dir);
    this.markStarted = luaScript(redis, 'mark-run-started', dir);
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

  private send(requests: ClaimRequest[]): Promise<ClaimReply[]> {
    return this.redis.isCluster ? this.sendToCluster(requests) : this.claimAll(requests, true);
  }

  /**
   * On Redis Cluster a run's job hash lies in its queue's slot, and the claim in Drumline's: one
   * script cannot touch both. So the claim goes first, in Drumline's slot, and each run that
   * entered is then marked started in its job's slot (mark-run-started.lua, which may be sent
   * again). A run a worker took before may have started already, and its last run must keep that
   * first start: it is read before the claim, where it is one read more for a retry only.
   */
  private async sendToCluster(requests: ClaimRequest[]): Promise<ClaimReply[]> {
    const firstStarts = await Promise.all(requests.map((request) => (request.active !== '' && request.takenBefore ? this.redis.hget(request.jobKey, FIRST_START) : null)));
    const claims = requests.map((request, index) => {
      const first = firstStarts[index];
      if (!first) return request;
      const active = JSON.stringify({ ...(JSON.parse(request.active) as object), startedAt: Number(first) });
      return { ...request, active, startedAt: Number(first) };
    });
    const replies = await this.claimAll(claims, false);
    await Promise.all(requests.map((request, index) => (replies[index]?.[3] === 'entered' ? this.markStarted([request.jobKey], [request.startedAt]) : undefined)));
    return replies;
  }

  /** claim-ticks.lua over `requests`; with `withJobKeys`, it marks the job hashes of the runs that enter itself. */
  private async claimAll(requests: ClaimRequest[], withJobKeys: boolean): Promise<ClaimReply[]> {
    const { keys } = this;
    const runKeys: string[] = [];
    const runArgs: (string | number)[] = [];
    for (const { runId, jobKey, scheduleId, createdAt, active, manual, startedAt } of requests) {
      runKeys.push(keys.tickClaim(runId), keys.overlapLock(scheduleId), ...(withJobKeys ? [jobKey] : []));
      runArgs.push(createdAt, scheduleId, active, manual ? '1' : '0', runId, startedAt);
    }
    return (await this.script(
      [keys.schedules, keys.schedulesPaused, keys.lastRuns, ...runKeys],
      [this.options.tickClaimSeconds, this.options.overlapLockMs, withJobKeys ? 3 : 2, ...runArgs],
    )) as ClaimReply[];
  }
}

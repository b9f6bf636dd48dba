import { hostname } from 'node:os';
import {
  isMisfiredRun,
  jitterOffsetMs,
  luaScript,
  MISFIRE_THRESHOLD_MS,
  parseScheduledRunId,
  ReplicaAcks,
  ScheduleStore,
  TickLedger,
  type DrumlineKeys,
  type LastRun,
  type RedisConnection,
  type ReplicaAcksOptions,
  type ScheduleRecord,
  type Logger,
  type TickEvent,
  type TickLedgerRetention,
} from '@drumline/core/runtime';
import { DelayedError, type Job } from 'bullmq';
import { ClaimBatch, type ClaimReply } from './claim-batch.js';
import { LedgerBatch } from './ledger-batch.js';
import type { BeforeScheduledRun } from './scheduled-run-gate.js';

export type SkipReason = 'duplicate' | 'deleted' | 'paused' | 'missed' | 'overlap';

export type GateDecision =
  | { action: 'run'; record: ScheduleRecord; dueMs: number; finish: (end: RunEnd) => Promise<void> }
  | { action: 'skip'; reason: SkipReason }
  /** `overlap: 'queue'`: the previous run is still going; try again shortly. */
  | { action: 'wait' }
  /** Its claim did not reach the replicas asked for in time: a failover could forget it, so the handler must not start yet. */
  | { action: 'unconfirmed' };

/** How an admitted run's attempt ended: `active` when the worker shut down and put it back. */
export type RunEnd = { state: 'completed' } | { state: 'failed'; reason: string; willRetry: boolean } | { state: 'active' };

/** `checked`: claimed only; `entered`: also locked and recorded active; `locked`: another run holds the overlap lock. */
type Claim =
  | { verdict: 'duplicate' | 'deleted' }
  | { verdict: 'ok'; record: ScheduleRecord; paused: boolean; entry: NonNullable<ClaimReply[3]>; firstStartedAt: number | undefined };

export interface ScheduleGateOptions {
  /** An overlap lock outlives a dead worker by at most this long. */
  overlapLockMs: number;
  /** How long a tick's claim is kept; a duplicate of a tick older than this is not recognised. */
  tickClaimSeconds: number;
  /** Replicas that must hold a tick's claim before its handler starts (REDIS_WAIT_REPLICAS); none by default. */
  replicaAcks?: ReplicaAcksOptions;
  /** How much each schedule's tick ledger keeps (TICK_LEDGER_*); the default otherwise. */
  ledgerRetention?: TickLedgerRetention;
  /** How the tick ledger names this worker; `<hostname>:<pid>` by default. */
  worker?: string;
  /** Told when the tick ledger cannot be written. */
  logger?: Pick<Logger, 'warn'>;
}

/**
 * What a worker checks before running a scheduled tick, and records after: the tick is claimed
 * once (a re-added duplicate is skipped), a paused or deleted schedule does not run, a tick late
 * beyond the misfire policy is dropped, and `overlap: skip | queue` holds a per-schedule lock that
 * a dead worker's TTL releases. Manual triggers skip the pause and misfire checks.
 */
export class ScheduleGate {
  private readonly keys: DrumlineKeys;
  private readonly store: ScheduleStore;
  private readonly claims: ClaimBatch;
  private readonly ledger: LedgerBatch;
  private readonly worker: string;
  private readonly renewLock;
  private readonly releaseLock;
  private readonly replicaAcks: ReplicaAcks;

  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
    private readonly options: ScheduleGateOptions,
  ) {
    this.store = new ScheduleStore(redis, prefix);
    this.keys = this.store.keys;
    this.ledger = new LedgerBatch(new TickLedger(redis, prefix, options.ledgerRetention), options.logger ?? { warn: () => undefined });
    this.worker = options.worker ?? `${hostname()}:${process.pid}`;
    this.claims = new ClaimBatch(redis, this.keys, options);
    this.renewLock = luaScript(redis, 'renew-lease');
    this.releaseLock = luaScript(redis, 'release-lease');
    this.replicaAcks = new ReplicaAcks(redis, options.replicaAcks ?? { replicas: 0, timeoutMs: 0 });
  }

  /** REDIS_WAIT_REPLICAS: replicas that must hold a claim before its run starts. */
  get replicasAsked(): number {
    return this.replicaAcks.options.replicas;
  }

  async enter(job: Job, run: { scheduleId: string; scheduledFor: Date; manual: boolean; lateByDesign?: boolean }, nowMs = Date.now()): Promise<GateDecision> {
    const runId = job.id as string;
    const tickMs = run.scheduledFor.getTime();
    const active: LastRun = { runId, scheduledFor: tickMs, startedAt: nowMs, finishedAt: null, state: 'active', attempt: job.attemptsMade + 1 };
    // A tick late enough to have misfired must be held against its schedule's policy before it
    // may start, which needs the record: its first claim only checks. An on-time one starts at once.
    const judged = !run.manual && !run.lateByDesign;
    let enterAs = judged && nowMs - tickMs > MISFIRE_THRESHOLD_MS ? undefined : active;
    for (;;) {
      const claim = await this.claim(job, run, enterAs);
      if (claim.verdict !== 'ok') return this.skip(run, runId, nowMs, claim.verdict);
      if (!run.manual && claim.paused) return this.skip(run, runId, nowMs, 'paused');
      if (claim.entry === 'locked') return claim.record.overlap === 'queue' ? { action: 'wait' } : this.skip(run, runId, nowMs, 'overlap');
      // A jittered schedule's run is due a little after its tick: late is measured from then.
      const dueMs = tickMs + jitterOffsetMs(run.scheduleId, tickMs, claim.record.jitterMs ?? 0);
      if (claim.entry === 'entered') {
        // WAIT on the gate's connection, which made the claim: the claim survives a failover to a replica that holds it.
        if (!(await this.replicaAcks.confirm())) return { action: 'unconfirmed' };
        // The claim has set it in Redis too (see lua/claim-ticks.lua): the handler starts now.
        job.processedOn = nowMs;
        if (!run.manual) this.ledger.note({ scheduleId: run.scheduleId, tick: tickMs, event: { kind: 'started', at: nowMs, attempt: active.attempt ?? 1, worker: this.worker } });
        return this.admit(run, claim.record, { ...active, startedAt: claim.firstStartedAt ?? nowMs }, dueMs, job.timestamp);
      }
      if (judged && isMisfiredRun(claim.record, dueMs, nowMs) && !(await this.backfilled(runId))) return this.skip(run, runId, nowMs, 'missed');
      enterAs = active;
    }
  }

  /** Added by a backfill: late by design, so never dropped as misfired. Asked only of late runs. */
  private async backfilled(runId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.backfilled(runId))) === 1;
  }

  /** Claims the tick; with `active`, also takes the overlap lock and records the run as active, in the same script. */
  private async claim(job: Job, run: { scheduleId: string; manual: boolean }, active: LastRun | undefined): Promise<Claim> {
    const [verdict, json, paused, entry, firstStartedAt] = await this.claims.claim({
      runId: job.id as string,
      jobKey: `${job.queueQualifiedName}:${job.id}`,
      scheduleId: run.scheduleId,
      createdAt: job.timestamp,
      active: active ? JSON.stringify(active) : '',
      manual: run.manual,
      startedAt: active?.startedAt ?? 0,
      takenBefore: job.attemptsStarted > 1,
    });
    if (verdict !== 'ok' || !json) return { verdict: verdict as 'duplicate' | 'deleted' };
    return { verdict: 'ok', record: JSON.parse(json) as ScheduleRecord, paused: paused === 1, entry: entry ?? 'checked', firstStartedAt };
  }

  /** The run holds its claim (and its overlap lock, renewed while it runs): let it start. */
  private admit(run: { scheduleId: string; scheduledFor: Date; manual: boolean }, record: ScheduleRecord, active: LastRun, dueMs: number, createdAt: number): GateDecision {
    const { runId, startedAt, attempt } = active;
    let renewal: NodeJS.Timeout | undefined;
    if (record.overlap !== 'allow') {
      const lock = this.keys.overlapLock(run.scheduleId);
      const ttl = this.options.overlapLockMs;
      renewal = setInterval(() => void this.renewLock([lock], [runId, ttl]).catch(() => undefined), Math.max(100, Math.floor(ttl / 3)));
      renewal.unref();
    }
    return {
      action: 'run',
      record,
      dueMs,
      finish: async (end) => {
        clearInterval(renewal);
        if (renewal) await this.releaseLock([this.keys.overlapLock(run.scheduleId)], [runId]);
        const now = Date.now();
        const reason = end.state === 'failed' ? end.reason : undefined;
        const { worker } = this;
        const event: TickEvent =
          end.state === 'completed'
            ? { kind: 'completed', at: now, attempt: attempt ?? 1, worker }
            : end.state === 'failed'
              ? { kind: 'failed', at: now, attempt: attempt ?? 1, worker, retry: end.willRetry, reason: end.reason }
              : { kind: 'requeued', at: now, attempt: attempt ?? 1, worker };
        await this.record(
          run.scheduleId,
          { runId, scheduledFor: run.scheduledFor.getTime(), startedAt, finishedAt: now, state: end.state, attempt, ...(reason ? { reason } : {}) },
          event,
          run.manual,
        );
        if (end.state === 'completed' && this.replicaAcks.enabled) await this.settle(runId, createdAt);
      },
    };
  }

  /**
   * Marks a completed tick's claim as done, and waits for the replicas to hold the mark, before
   * BullMQ records the completion: should a failover lose that record, the job comes back as if its
   * worker had died, and its claim (no longer the job's creation time) turns it away as a duplicate
   * instead of running it again. Best effort: the completion goes on whatever the replicas say.
   */
  private async settle(runId: string, createdAt: number): Promise<void> {
    await this.redis.set(this.keys.tickClaim(runId), `done:${createdAt}`, 'KEEPTTL', 'XX');
    await this.replicaAcks.confirm();
  }

  private async skip(run: { scheduleId: string; scheduledFor: Date; manual: boolean }, runId: string, nowMs: number, reason: SkipReason): Promise<GateDecision> {
    if (reason === 'duplicate' && !run.manual) this.ledger.note({ scheduleId: run.scheduleId, tick: run.scheduledFor.getTime(), event: { kind: 'duplicate', at: nowMs, worker: this.worker } });
    if (reason !== 'deleted' && reason !== 'duplicate') {
      await this.record(
        run.scheduleId,
        { runId, scheduledFor: run.scheduledFor.getTime(), startedAt: nowMs, finishedAt: nowMs, state: 'skipped', reason },
        { kind: 'skipped', at: nowMs, worker: this.worker, why: reason },
        run.manual,
      );
    }
    return { action: 'skip', reason };
  }

  /** The schedule's last run, and for a tick (a manual run is none) the event in its ledger, written with the others of this turn. */
  private async record(scheduleId: string, run: LastRun, event: TickEvent, manual: boolean): Promise<void> {
    if (!manual) this.ledger.note({ scheduleId, tick: run.scheduledFor, event });
    await this.store.recordRun(scheduleId, run);
  }

  /** Resolves once the tick-ledger events noted so far are written: the worker's shutdown waits for it. */
  ledgerSettled(): Promise<void> {
    return this.ledger.settled();
  }
}

/** How soon a run whose claim the replicas did not confirm asks again. */
const UNCONFIRMED_RETRY_MS = 1000;

/** How long a tick's claim is kept (see ScheduleGateOptions.tickClaimSeconds). */
export const TICK_CLAIM_SECONDS = 3600;

/** The worker's seam for scheduled runs, answered by a ScheduleGate. */
export function gateScheduledRuns(gate: ScheduleGate): BeforeScheduledRun {
  return async (run) => {
    const scheduled = parseScheduledRunId(run.job.id);
    if (!scheduled) return { admit: true };
    const decision = await gate.enter(run.job, { ...scheduled, lateByDesign: run.lateByDesign ?? false });
    if (decision.action === 'skip') {
      run.logger.info({ reason: decision.reason }, 'scheduled run skipped');
      return { admit: false, result: { skipped: decision.reason } };
    }
    if (decision.action === 'wait') {
      // overlap: 'queue' — the previous run still holds the lock; look again shortly, without spending an attempt.
      await run.job.moveToDelayed(Date.now() + 250, run.token);
      throw new DelayedError();
    }
    if (decision.action === 'unconfirmed') {
      // It keeps its claim and lock (its own, so it enters again) and asks again without spending an attempt.
      run.logger.warn({ replicas: gate.replicasAsked }, 'tick claim not confirmed by the replicas in time: the run waits');
      await run.job.moveToDelayed(Date.now() + UNCONFIRMED_RETRY_MS, run.token);
      throw new DelayedError();
    }
    return {
      admit: true,
      dueAt: decision.dueMs,
      release: (outcome) => decision.finish(outcome.state === 'requeued' ? { state: 'active' } : outcome),
    };
  };
}

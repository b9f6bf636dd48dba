import { parseScheduledRunId, type AlertWebhook, type Logger, type QueueSet, type RedisHealth, type ScheduleStore, type RedisConnection, type TickLedger } from '@drumline/core/runtime';
import { QueueEvents, type Queue } from 'bullmq';
import { alertOnce } from './alert-once.js';

/** The failedReason BullMQ's stalled check gives a job it fails (moveStalledJobsToWait-9.lua). */
const STALLED_FAILURE = 'job stalled more than allowable limit';

export interface StalledFailureWatcherOptions {
  redis: RedisConnection;
  /** Hears the event streams' connection errors, so an outage is logged once by the process. */
  redisHealth?: RedisHealth;
  queues: QueueSet;
  store: ScheduleStore;
  alerts: AlertWebhook;
  logger: Logger;
  /** `drumline_runs_total`: these runs count as `failed` here, since no worker sees them end. */
  runs?: { labels(job: string, outcome: string): { inc(): void } };
  /** Told that a tick's run failed for good: no worker lives to tell it. */
  ledger?: TickLedger;
}

/**
 * A run whose worker dies mid-run (OOM, kill -9) is put back by BullMQ's stalled check, and failed
 * by it once that happened too often: inside a Lua script, with no processor and no worker event
 * to tell. Such a run is exactly the one to alert on (it may kill every worker that takes it), so
 * the leader listens to the queues' event streams for it. Started and stopped with leadership;
 * the alert is deduplicated per run, so two leaders overlapping in a failover send it once.
 */
export class StalledFailureWatcher {
  private listeners: QueueEvents[] = [];

  constructor(private readonly options: StalledFailureWatcherOptions) {}

  async start(): Promise<void> {
    const { queues, redis, logger } = this.options;
    this.listeners = queues.all().map((queue) => {
      // QueueEvents reads with a blocking XREAD, so it makes its own connection from this one.
      const events = new QueueEvents(queue.name, { connection: redis, prefix: queue.opts.prefix });
      events.on('failed', ({ jobId, failedReason }) => {
        if (failedReason === STALLED_FAILURE) void this.report(queue, jobId);
      });
      const onOtherError = (error: Error) => logger.warn({ err: error, queue: queue.name }, 'listening for stalled failures failed; retrying');
      if (this.options.redisHealth) this.options.redisHealth.watch(events, onOtherError);
      else events.on('error', onOtherError);
      return events;
    });
    await Promise.all(this.listeners.map((events) => events.waitUntilReady()));
  }

  async stop(): Promise<void> {
    const listeners = this.listeners;
    this.listeners = [];
    await Promise.all(listeners.map((events) => events.close()));
  }

  private async report(queue: Queue, runId: string): Promise<void> {
    const { redis, store, alerts, logger } = this.options;
    try {
      const job = await queue.getJob(runId);
      const name = job?.name ?? '(unknown)';
      // attemptsMade counts only attempts a processor finished; a stalled one never does.
      const attempts = job ? job.attemptsStarted : undefined;
      const scheduled = parseScheduledRunId(runId);
      logger.error({ job: name, runId, attempt: attempts, scheduleId: scheduled?.scheduleId }, 'run failed: its worker stopped mid-run too often');
      this.options.runs?.labels(name, 'failed').inc();
      if (scheduled && !scheduled.manual && this.options.ledger) {
        const tick = scheduled.scheduledFor.getTime();
        // Failing the job counts its last attempt in attemptsMade: that attempt's start is in the ledger under this number.
        const attempt = Math.max(1, job?.attemptsMade ?? 1);
        const reason = `${STALLED_FAILURE}: its worker stopped while running it`;
        await this.options.ledger.append([{ scheduleId: scheduled.scheduleId, tick, event: { kind: 'failed', at: Date.now(), attempt, worker: '', retry: false, reason } }]);
      }
      await alertOnce({ redis, keys: store.keys, alerts, logger }, `failed:${queue.name}:${runId}`, {
        kind: 'run-failed',
        job: name,
        queue: queue.name,
        runId,
        schedule: scheduled?.scheduleId ?? null,
        tick: scheduled ? scheduled.scheduledFor.toISOString() : null,
        reason: `${STALLED_FAILURE}: its worker stopped (crashed, was killed or blocked its event loop) while running it`,
        attempts: attempts ?? null,
      });
    } catch (error) {
      logger.error({ err: error, runId, queue: queue.name }, 'reporting a stalled failure failed');
    }
  }
}

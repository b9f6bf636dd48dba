import {
  failSpan,
  InvalidPayloadError,
  JobTimeoutError,
  MAX_PROMOTE_AHEAD_MS,
  parseScheduledRunId,
  SpanAttributes,
  UnknownJobError,
  type JobDefinition,
  type JobRegistry,
  type JobRunSeries,
  type Logger,
  type RunMetrics,
} from '@drumline/core/runtime';
import { context, type Span, type Tracer } from '@opentelemetry/api';
import { performance } from 'node:perf_hooks';
import { DelayedError, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import { RunCancelledError } from './errors/run-cancelled-error.js';
import { WorkerShutdownError } from './errors/worker-shutdown-error.js';
import type { FlowGate, FlowPass } from './flow-gate.js';
import { RunContext } from './run-context.js';
import { activeRunContext, startRunSpan } from './run-span.js';
import type { BeforeScheduledRun, ScheduledRunAdmission, ScheduledRunOutcome } from './scheduled-run-gate.js';

/** How long a cancelled handler may go on before it is reported as ignoring its signal. */
export const CANCEL_GRACE_MS = 10_000;
const COMPLETED: ScheduledRunOutcome = Object.freeze({ state: 'completed' });
const REQUEUED: ScheduledRunOutcome = Object.freeze({ state: 'requeued' });
/** A run this early was not promoted ahead by a scheduler (or the clocks disagree badly): it waits in delayed, not in a worker slot. */
const MAX_HOLD_MS = 2 * MAX_PROMOTE_AHEAD_MS;

export interface JobRunnerOptions {
  registry: JobRegistry;
  logger: Logger;
  /** The overlap seam: asked before the handler of each scheduled run. */
  beforeScheduledRun: BeforeScheduledRun;
  /** Concurrency and rate limits of the jobs that declare them; without it they are not enforced. */
  flowGate?: Pick<FlowGate, 'pass'>;
  /** Outcomes, handler durations and schedule lateness; none are recorded without it. */
  metrics?: RunMetrics;
  /** Told of each run that failed with no attempt left (alerts). It must not throw. */
  onFinalFailure?: (failure: FinalFailure) => void;
  /** How long a cancelled handler may go on before it is reported as ignoring its signal (default CANCEL_GRACE_MS). */
  cancelGraceMs?: number;
  /** With tracing on: each call of the processor is a `run` span, a child of the run's enqueue (see run-span.ts). */
  tracer?: Tracer | undefined;
}

/** A run that failed for good: its last attempt failed, or it could never succeed. */
export interface FinalFailure {
  job: string;
  queue: string;
  runId: string;
  attempts: number;
  reason: string;
  scheduleId: string | undefined;
  scheduledFor: Date | undefined;
}

/**
 * BullMQ's processor for every queue of this process: it validates a job's payload, builds its
 * JobContext, runs the handler within its timeout, and keeps the runs in flight so that a
 * shutdown can abort them.
 */
export class JobRunner {
  private readonly registry: JobRegistry;
  private readonly logger: Logger;
  private readonly beforeScheduledRun: BeforeScheduledRun;
  private readonly flowGate: Pick<FlowGate, 'pass'> | undefined;
  private readonly running = new Set<RunContext>();
  private readonly metrics: RunMetrics | undefined;
  private readonly onFinalFailure: ((failure: FinalFailure) => void) | undefined;
  private readonly cancelGraceMs: number;

  constructor(options: JobRunnerOptions) {
    this.cancelGraceMs = options.cancelGraceMs ?? CANCEL_GRACE_MS;
    const { tracer } = options;
    this.process = tracer ? (job, token) => this.traced(tracer, job, token) : (job, token) => this.run(job, token, undefined);
    this.registry = options.registry;
    this.logger = options.logger;
    this.beforeScheduledRun = options.beforeScheduledRun;
    this.flowGate = options.flowGate;
    this.metrics = options.metrics;
    this.onFinalFailure = options.onFinalFailure;
  }

  /** Runs in flight. */
  get runningCount(): number {
    return this.running.size;
  }

  /**
   * The BullMQ processor. It takes two parameters on purpose: BullMQ then makes no AbortController
   * of its own per job; the run's signal is made on demand by RunContext.
   */
  readonly process: (job: Job, token?: string) => Promise<unknown>;

  /** `process` with tracing on: the attempt within its span (the untraced `process` calls `run` directly, at no cost). */
  private async traced(tracer: Tracer, job: Job, token: string | undefined): Promise<unknown> {
    const span = startRunSpan(tracer, job);
    try {
      return await this.run(job, token, span);
    } finally {
      span.end();
    }
  }

  /** One attempt of `job`; `span`, with tracing on, is told how it went and is the active span around the handler. */
  private async run(job: Job, token: string | undefined, span: Span | undefined): Promise<unknown> {
    const definition = this.registry.find(job.name);
    if (!definition) return this.refuse(job, new UnknownJobError(job.name), span);
    const parsed = definition.schema.safeParse(job.data);
    if (!parsed.success) return this.refuse(job, InvalidPayloadError.fromZod(definition.name, parsed.error), span);

    const scheduled = parseScheduledRunId(job.id);
    const run = new RunContext(job, this.logger, scheduled?.scheduleId, scheduled?.scheduledFor);
    const series = this.metrics?.of(definition.name);
    this.running.add(run);
    let admission: ScheduledRunAdmission | undefined;
    let flow: FlowPass | undefined;
    let outcome: ScheduledRunOutcome = COMPLETED;
    let startedAt: number | undefined;
    try {
      if (scheduled && !scheduled.manual) await this.holdUntil(scheduled.scheduledFor.getTime(), job, token, run);
      flow = await this.flowGate?.pass(job, token, definition, parsed.data);
      if (flow?.countedAt !== undefined) run.logger.debug({ countedAt: flow.countedAt, waited: flow.waited }, 'run let through by its rate limit');
      if (scheduled) {
        admission = await this.beforeScheduledRun({ job, token, definition, ...scheduled, logger: run.logger, lateByDesign: flow?.waited ?? false });
        if (!admission.admit) {
          if (series) series.skipped += 1;
          span?.setAttribute(SpanAttributes.outcome, 'skipped');
          return admission.result;
        }
        // A manual trigger's "tick" is when it was asked for: its wait says nothing about the schedule.
        // A retry starts late by its backoff: the run's lateness is its first attempt's.
        const dueAt = admission.dueAt ?? scheduled.scheduledFor.getTime();
        if (!scheduled.manual && run.attempt === 1) this.metrics?.lateness.labels(scheduled.scheduleId).observe((Date.now() - dueAt) / 1000);
      }
      startedAt = performance.now();
      const result = await this.runHandler(definition, parsed.data, run, span);
      if (series) series.completed += 1;
      span?.setAttribute(SpanAttributes.outcome, 'completed');
      return result;
    } catch (error) {
      if (run.stopReason instanceof WorkerShutdownError) {
        // Not the job's fault: hand it to the next worker now rather than spend an attempt on it.
        outcome = REQUEUED;
        span?.setAttribute(SpanAttributes.outcome, 'requeued');
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (error instanceof DelayedError || error instanceof WaitingError) {
        span?.setAttribute(SpanAttributes.outcome, 'postponed');
        throw error; // the gate postponed the run
      }
      const cancelled = run.stopReason instanceof RunCancelledError;
      const willRetry = !(error instanceof UnrecoverableError) && !cancelled && run.attempt < (job.opts.attempts ?? 1);
      outcome = { state: 'failed', reason: error instanceof Error ? error.message : String(error), willRetry };
      run.logger.warn({ err: error, willRetry }, 'run failed');
      if (span) {
        span.setAttribute(SpanAttributes.outcome, willRetry ? 'retried' : 'failed');
        failSpan(span, error);
      }
      if (!willRetry) this.finalFailure(job, run.attempt, outcome.reason, series);
      else if (series) series.retried += 1;
      // BullMQ retries any other error: a cancelled run must end here.
      throw cancelled ? new UnrecoverableError(outcome.reason) : error;
    } finally {
      if (startedAt !== undefined) series?.observeDuration((performance.now() - startedAt) / 1000);
      clearTimeout(run.timer);
      this.running.delete(run);
      if (admission?.admit && admission.release) await this.release(run, admission.release, outcome);
      // Not awaited: the slot goes back while BullMQ records the outcome (FlowGate.close waits for it).
      const held = flow;
      if (held) void this.release(run, () => held.release(), outcome);
    }
  }

  /**
   * Aborts this process's run `runId` of `queue`, if it holds it: the attempt fails for good at once,
   * and a handler still going after `cancelGraceMs` is reported as ignoring its signal.
   */
  cancel(queue: string, runId: string, reason: string): boolean {
    for (const run of this.running) {
      if (run.jobId !== runId || run.job.queueName !== queue) continue;
      run.stop(new RunCancelledError(reason));
      if (run.handler) {
        const graceMs = this.cancelGraceMs;
        const report = setTimeout(() => run.logger.error({ graceMs }, 'the handler ignores its cancel signal: it is still running; pass `signal` to what it awaits'), graceMs);
        report.unref();
        const settled = () => clearTimeout(report);
        run.handler.then(settled, settled);
      }
      return true;
    }
    return false;
  }

  /** Aborts every run in flight with `reason`: their attempts settle at once, whatever their handlers do. */
  stopAll(reason: Error): void {
    for (const run of this.running) run.stop(reason);
  }

  /** Fails the job for good: retrying cannot fix an unknown job or a payload its schema refuses. */
  private refuse(job: Job, error: Error, span: Span | undefined): never {
    const attempt = job.attemptsMade + 1;
    if (span) {
      span.setAttribute(SpanAttributes.outcome, 'failed');
      failSpan(span, error);
    }
    const scheduled = parseScheduledRunId(job.id);
    this.logger.error({ job: job.name, runId: job.id, attempt, scheduleId: scheduled?.scheduleId, err: error }, 'run refused');
    // An unknown job's name comes from whoever enqueued it: no series of its own, so a buggy producer cannot grow the label set.
    this.finalFailure(job, attempt, error.message, this.metrics?.of(this.registry.find(job.name) ? job.name : '(unknown)'));
    throw new UnrecoverableError(error.message);
  }

  private finalFailure(job: Job, attempts: number, reason: string, series: JobRunSeries | undefined): void {
    if (series) series.failed += 1;
    if (!this.onFinalFailure) return;
    const scheduled = parseScheduledRunId(job.id);
    this.onFinalFailure({
      job: job.name,
      queue: job.queueName,
      runId: job.id ?? '',
      attempts,
      reason,
      scheduleId: scheduled?.scheduleId,
      scheduledFor: scheduled?.scheduledFor,
    });
  }

  /**
   * A tick's runs are promoted a little ahead of it, so that they are picked up before it comes and
   * start together at it: an early run waits here, holding its slot, and never starts before its tick.
   * Nothing is claimed yet, so pause, overlap and duplicates are decided at the tick itself.
   */
  private async holdUntil(tickMs: number, job: Job, token: string | undefined, run: RunContext): Promise<void> {
    if (tickMs - Date.now() > MAX_HOLD_MS) {
      await job.moveToDelayed(tickMs, token);
      throw new DelayedError();
    }
    // A loop, because a timer may fire a little before the wall clock reaches the tick.
    for (let early = tickMs - Date.now(); early > 0; early = tickMs - Date.now()) {
      await new Promise<void>((resolve, reject) => {
        if (run.stopReason) return reject(run.stopReason);
        run.interrupt = reject;
        run.timer = setTimeout(resolve, early);
      });
    }
    run.interrupt = undefined;
  }

  /** Resolves with the handler's result, or rejects with its error or the reason the run was stopped. */
  private runHandler(definition: JobDefinition, data: unknown, run: RunContext, span: Span | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (run.stopReason) return reject(run.stopReason); // stopped while the gate was deciding
      run.interrupt = reject;
      run.timer = setTimeout(() => run.stop(new JobTimeoutError(definition.name, definition.timeoutMs)), definition.timeoutMs);
      try {
        // The run's span is the active one in the handler, so the spans its own code makes are its children.
        const handled = Promise.resolve(span ? context.with(activeRunContext(span), () => definition.handler(data, run)) : definition.handler(data, run));
        run.handler = handled;
        handled.then(resolve, reject);
      } catch (error) {
        reject(error);
      }
    });
  }

  private async release(run: RunContext, release: (outcome: ScheduledRunOutcome) => Promise<void>, outcome: ScheduledRunOutcome): Promise<void> {
    try {
      await release(outcome);
    } catch (error) {
      run.logger.error({ err: error }, 'releasing the scheduled run failed');
    }
  }
}

import type { JobContext, Logger } from '@drumline/core/runtime';
import type { Job } from 'bullmq';

/**
 * The JobContext of one run. The logger, the AbortController and the `log`/`progress` functions are
 * made on first use, because most handlers touch few of them and every run pays for what it makes.
 * They are getters so that handlers may destructure the context (`{ signal, log }`).
 */
export class RunContext implements JobContext {
  readonly jobId: string;
  readonly jobName: string;
  readonly attempt: number;
  /** Why the run was stopped (timeout, shutdown or cancel); set once. */
  stopReason: Error | undefined;
  /** Settles the run's outcome with `stopReason` at once, without waiting for the handler. */
  interrupt: ((reason: Error) => void) | undefined;
  timer: NodeJS.Timeout | undefined;
  /** The handler's own promise (it may outlive the run's outcome, once stopped); unset until it starts. */
  handler: Promise<unknown> | undefined;
  private controller: AbortController | undefined;
  private childLogger: Logger | undefined;

  constructor(
    readonly job: Job,
    private readonly rootLogger: Logger,
    readonly scheduleId: string | undefined,
    readonly scheduledFor: Date | undefined,
  ) {
    this.jobId = job.id ?? '';
    this.jobName = job.name;
    this.attempt = job.attemptsMade + 1;
  }

  get logger(): Logger {
    this.childLogger ??= this.rootLogger.child(
      this.scheduleId === undefined
        ? { job: this.jobName, runId: this.jobId, attempt: this.attempt }
        : { job: this.jobName, runId: this.jobId, attempt: this.attempt, scheduleId: this.scheduleId },
    );
    return this.childLogger;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.stopReason) this.controller.abort(this.stopReason);
    }
    return this.controller.signal;
  }

  get progress(): (value: number | object) => Promise<void> {
    return (value) => this.job.updateProgress(value);
  }

  get log(): (line: string) => Promise<void> {
    return async (line) => {
      await this.job.log(line);
    };
  }

  /** Aborts the signal and settles the run with `reason`; later calls change nothing. */
  stop(reason: Error): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.controller?.abort(reason);
    this.interrupt?.(reason);
  }
}

import { DrumlineError } from '@drumline/core/runtime';

/** The worker stopped before the run finished: its signal aborted and the run went back to its queue. */
export class WorkerShutdownError extends DrumlineError {
  readonly code = 'DRUMLINE_WORKER_SHUTDOWN';

  constructor(readonly graceMs: number) {
    super(`the worker shut down and its grace period of ${graceMs} ms ran out: the run goes back to its queue`);
  }
}

import type { Logger } from '@drumline/core/runtime';

/**
 * Runs `task` again and again, each run starting `delayMs()` after the previous one ended, so runs
 * never overlap; a failing run is logged and the loop goes on. `stop()` waits for a run in flight.
 */
export class RepeatingTask {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private current: Promise<void> = Promise.resolve();

  constructor(
    private readonly task: () => Promise<unknown>,
    private readonly delayMs: () => number,
    private readonly logger: Logger,
    private readonly failureMessage: string,
  ) {}

  /** Starts the loop: the first run now, or after `firstDelayMs`. */
  start(firstDelayMs = 0): void {
    this.running = true;
    const run = () => {
      this.current = this.task()
        .then(() => undefined)
        .catch((error: unknown) => this.logger.error({ err: error }, this.failureMessage))
        .finally(() => {
          if (this.running) this.timer = setTimeout(run, this.delayMs());
        });
    };
    if (firstDelayMs > 0) this.timer = setTimeout(run, firstDelayMs);
    else run();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.current;
  }
}

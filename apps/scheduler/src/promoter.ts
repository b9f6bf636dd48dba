import { Job, type Queue } from 'bullmq';

/**
 * Moves each materialized delayed job to `wait` at its exact tick time. BullMQ's own delayed
 * promotion starts jobs 40-160 ms late; a timer in the leader gets within a few ms. The job's
 * delay stays the safety net: if no leader is alive, BullMQ still starts it on its own.
 */
export class Promoter {
  private readonly due = new Map<number, { timer: NodeJS.Timeout; jobs: { queue: Queue; id: string }[] }>();

  constructor(
    private readonly now: () => number,
    private readonly onError: (error: unknown) => void,
  ) {}

  promoteAt(tickMs: number, queue: Queue, id: string): void {
    const slot = this.due.get(tickMs);
    if (slot) {
      slot.jobs.push({ queue, id });
      return;
    }
    const timer = setTimeout(() => this.fire(tickMs), Math.max(0, tickMs - this.now()));
    this.due.set(tickMs, { timer, jobs: [{ queue, id }] });
  }

  get pending(): number {
    return this.due.size;
  }

  stop(): void {
    for (const { timer } of this.due.values()) clearTimeout(timer);
    this.due.clear();
  }

  private fire(tickMs: number): void {
    const slot = this.due.get(tickMs);
    this.due.delete(tickMs);
    for (const { queue, id } of slot?.jobs ?? []) {
      // A job already promoted by BullMQ, removed by a pause, or started is not an error here.
      new Job(queue, '', {}, {}, id).promote().catch((error: Error) => {
        if (!/not in the delayed state|does not exist|Missing key/i.test(error.message)) this.onError(error);
      });
    }
  }
}

import type { Logger, RedisConnection } from '@drumline/core/runtime';
import type { Worker } from 'bullmq';

/** How often each queue's oldest waiting run is looked at. */
const CHECK_EVERY_MS = 5_000;
/** Looks in a row that find the same oldest run waiting while this process had a free slot. */
const STUCK_AFTER_LOOKS = 2;

export interface QueueWorkersOptions {
  queues: readonly string[];
  create: (queue: string) => Worker;
  redis: RedisConnection;
  /** Whether this process could take another run now. */
  hasFreeSlot: () => boolean;
  logger: Logger;
  checkEveryMs?: number;
}

/**
 * A BullMQ worker per queue, replaced when it has stopped taking runs. After a Redis failover a
 * worker can stay "running" yet never ask for a run again (taskforcesh/bullmq#3088, #3185; seen here
 * when a cluster shard's primary was killed), and the maintainers' advice is to make a new one. A
 * healthy worker with a free slot takes a waiting run within milliseconds, so the same oldest run
 * still waiting look after look, while this process had room for it, means this worker is stuck.
 */
export class QueueWorkers {
  private readonly current = new Map<string, Worker>();
  /** Replaced workers, closing while the runs they took finish. */
  private readonly retired = new Set<Worker>();
  private readonly seen = new Map<string, { oldest: string; looks: number }>();
  private readonly timer: NodeJS.Timeout;
  private checking = false;

  constructor(private readonly options: QueueWorkersOptions) {
    for (const queue of options.queues) this.current.set(queue, options.create(queue));
    this.timer = setInterval(() => void this.check(), options.checkEveryMs ?? CHECK_EVERY_MS);
    this.timer.unref();
  }

  /** Every worker, the replaced ones still closing included: what a drain has to wait for. */
  all(): Worker[] {
    return [...this.current.values(), ...this.retired];
  }

  /** Stops looking; the workers themselves are closed by the caller's drain. */
  stopWatching(): void {
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      for (const [queue, worker] of this.current) await this.checkQueue(queue, worker);
    } catch {
      // Redis unreachable: nothing can be told about the workers until it answers again.
    } finally {
      this.checking = false;
    }
  }

  private async checkQueue(queue: string, worker: Worker): Promise<void> {
    const oldest = await this.options.redis.lindex(worker.toKey('wait'), -1);
    const before = this.seen.get(queue);
    if (!oldest || !this.options.hasFreeSlot()) {
      this.seen.delete(queue);
      return;
    }
    const looks = before?.oldest === oldest ? before.looks + 1 : 0;
    if (looks < STUCK_AFTER_LOOKS) {
      this.seen.set(queue, { oldest, looks });
      return;
    }
    this.seen.delete(queue);
    this.options.logger.warn({ queue, waiting: oldest }, 'worker takes no runs although its queue has some waiting: replacing it');
    this.retired.add(worker);
    void worker
      .close()
      .catch(() => {})
      .finally(() => this.retired.delete(worker));
    this.current.set(queue, this.options.create(queue));
  }
}

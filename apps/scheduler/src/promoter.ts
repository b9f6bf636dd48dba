import { Scripts, type Queue, type ScriptQueueContext } from 'bullmq';

/** What promote answers for a job that is no longer delayed (promoted by BullMQ, removed by a pause, started). */
const NOT_DELAYED = -3;

/**
 * Moves each materialized delayed job to `wait` `aheadMs` before its tick. BullMQ's own delayed
 * promotion starts jobs 40-160 ms late, and even jobs already waiting take a worker tens of ms to
 * pick up when hundreds are due at once; promoted ahead, they are picked up before the tick, and the
 * worker holds each until its tick. The job's delay stays the safety net: if no leader is alive,
 * BullMQ still starts it on its own, at its tick.
 */
export class Promoter {
  private readonly due = new Map<number, { timer: NodeJS.Timeout; jobs: Map<Queue, Set<string>> }>();

  constructor(
    private readonly now: () => number,
    private readonly aheadMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Promotes job `id` of `queue`, whose tick is `tickMs`, `aheadMs` before it; asking twice for the same job promotes it once. */
  promoteFor(tickMs: number, queue: Queue, id: string): void {
    let slot = this.due.get(tickMs);
    if (!slot) {
      slot = { timer: setTimeout(() => this.fire(tickMs), Math.max(0, tickMs - this.aheadMs - this.now())), jobs: new Map() };
      this.due.set(tickMs, slot);
    }
    const ids = slot.jobs.get(queue) ?? new Set<string>();
    slot.jobs.set(queue, ids.add(id));
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
    for (const [queue, ids] of slot?.jobs ?? []) {
      promoteAll(queue, [...ids]).catch((error: unknown) => this.onError(error));
    }
  }
}

/**
 * Promotes delayed jobs of one queue in one round trip: BullMQ's own `promote` script, keys and
 * `waiting` event, queued on a pipeline by BullMQ's own Scripts rather than sent one job at a time
 * (500 runs due at the same tick were 500 round trips). A job that is no longer delayed is skipped.
 */
export async function promoteAll(queue: Queue, ids: readonly string[]): Promise<void> {
  const pipeline = (await queue.client).pipeline();
  const onPipeline = new Scripts(Object.create(queue, { client: { value: Promise.resolve(pipeline) } }) as ScriptQueueContext);
  await Promise.all(ids.map((id) => onPipeline.promote(id)));
  for (const [error, code] of (await pipeline.exec()) ?? []) {
    if (error) throw error;
    if (code !== 0 && code !== NOT_DELAYED) throw new Error(`promoting a delayed job answered ${String(code)}`);
  }
}

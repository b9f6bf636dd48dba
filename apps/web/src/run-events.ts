import { QueueEvents, type Queue } from 'bullmq';
import type { RedisConnection } from '@drumline/core/runtime';

/**
 * BullMQ's event stream of each queue, opened on the first wait for one of its runs: a request that
 * waits for a run is answered by the run's own completed or failed event, never by polling. Each
 * stream reads with a blocking command, so it has a connection of its own.
 */
export class RunEvents {
  private readonly streams = new Map<string, QueueEvents>();

  constructor(private readonly redis: RedisConnection) {}

  of(queue: Queue): QueueEvents {
    let events = this.streams.get(queue.name);
    if (!events) {
      events = new QueueEvents(queue.name, { connection: this.redis.duplicate(), prefix: queue.opts.prefix });
      // Connection errors are logged once by the shared connection's listener; the stream reconnects itself.
      events.on('error', () => {});
      this.streams.set(queue.name, events);
    }
    return events;
  }

  async close(): Promise<void> {
    const streams = [...this.streams.values()];
    this.streams.clear();
    await Promise.all(
      streams.map(async (events) => {
        const connection = await events.client;
        await events.close();
        connection.disconnect();
      }),
    );
  }
}

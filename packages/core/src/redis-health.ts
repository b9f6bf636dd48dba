import type { RedisConnection } from './redis.js';
import type { Logger } from './logger.js';

/** What Node, ioredis and BullMQ say when a connection cannot reach Redis. */
const CONNECTION_ERROR = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|Connection is closed|Stream isn't writeable/;

/** While an outage lasts, how often it is said again. */
const REMINDER_MS = 30_000;

/** Anything that emits connection errors of its own: BullMQ's Queue, Worker and QueueEvents. */
interface ErrorEmitter {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export interface RedisHealthOptions {
  logger: Logger;
  /** While Redis stays unreachable, how often to log that it still is (default 30 s). */
  reminderMs?: number;
  now?: () => number;
}

interface Outage {
  since: number;
  errors: number;
  remindedAt: number;
}

/**
 * Whether this process reaches Redis, from the events of every connection it tracks. ioredis emits
 * an error per connection per retry (and prints "Unhandled error event" for a connection nobody
 * listens to), BullMQ re-emits each on every queue and worker: during a few seconds' outage that is
 * hundreds of lines. Here an outage is one warning when it starts, a reminder every `reminderMs`
 * while it lasts, and one line when every connection is ready again.
 */
export class RedisHealth {
  private readonly connections = new Set<RedisConnection>();
  private outage: Outage | undefined;
  private readonly reminderMs: number;
  private readonly now: () => number;

  constructor(private readonly options: RedisHealthOptions) {
    this.reminderMs = options.reminderMs ?? REMINDER_MS;
    this.now = options.now ?? Date.now;
  }

  /** True while every tracked connection is ready (`drumline_redis_up`). */
  get up(): boolean {
    for (const redis of this.connections) if (redis.status !== 'ready') return false;
    return true;
  }

  /** Listens to a connection's errors and state (`createRedis` does it); a closed connection is forgotten. */
  track(redis: RedisConnection): RedisConnection {
    this.connections.add(redis);
    redis.on('error', (error: Error) => this.connectionError(error));
    redis.on('ready', () => this.recovered());
    redis.on('end', () => {
      this.connections.delete(redis);
      this.recovered();
    });
    return redis;
  }

  /**
   * Listens to the errors BullMQ re-emits (its objects' own connections included): connection
   * errors count towards the outage, anything else goes to `onOtherError` (default: logged).
   */
  watch(emitter: ErrorEmitter, onOtherError?: (error: Error) => void): void {
    emitter.on('error', (error: Error) => {
      if (!CONNECTION_ERROR.test(error.message)) {
        if (onOtherError) onOtherError(error);
        else this.options.logger.error({ err: error }, 'redis client error');
      } else if (this.outage || !this.up) {
        this.connectionError(error);
      } else {
        // A connection BullMQ made for itself (a worker's blocking one), still reconnecting after
        // ours are back: the outage has been told, and it ends on its own.
        this.options.logger.debug({ err: error }, 'a BullMQ connection is still reconnecting');
      }
    });
  }

  private connectionError(error: Error): void {
    const now = this.now();
    if (!this.outage) {
      this.outage = { since: now, errors: 1, remindedAt: now };
      this.options.logger.warn({ error: error.message }, 'redis unreachable; retrying');
      return;
    }
    this.outage.errors += 1;
    if (now - this.outage.remindedAt >= this.reminderMs) {
      this.outage.remindedAt = now;
      this.options.logger.warn({ error: error.message, downMs: now - this.outage.since, errors: this.outage.errors }, 'redis still unreachable; retrying');
    }
  }

  private recovered(): void {
    if (!this.outage || !this.up) return;
    this.options.logger.info({ downMs: this.now() - this.outage.since, errors: this.outage.errors }, 'redis reachable again');
    this.outage = undefined;
  }
}

import { Cluster } from 'ioredis';
import type { RedisConnection } from './redis.js';

export interface ReplicaAcksOptions {
  /** Replicas that must hold a write before it counts as made; 0 asks for none. */
  replicas: number;
  /** How long to wait for them, per WAIT. */
  timeoutMs: number;
}

/**
 * Confirms that the writes a connection has made so far reached `replicas` replicas (Redis `WAIT`),
 * so that a failover to one of them cannot lose them: Redis replicates asynchronously, and a
 * primary that dies takes the writes its replicas had not received with it.
 *
 * Callers that ask together share one WAIT. A WAIT covers only the writes before it, so one asked
 * for while another is in flight gets the next, sent when that one returns: at most two per
 * `timeoutMs` whatever the load, and a connection the runs share is never blocked by a queue of them.
 */
export class ReplicaAcks {
  private inFlight: Promise<number> | undefined;
  private next: Promise<number> | undefined;

  constructor(
    private readonly redis: RedisConnection,
    readonly options: ReplicaAcksOptions,
  ) {
    // WAIT counts the replicas of the node a connection wrote to; a cluster connection writes to many.
    if (options.replicas > 0 && redis instanceof Cluster) throw new Error('REDIS_WAIT_REPLICAS is not supported on a Redis Cluster connection');
  }

  get enabled(): boolean {
    return this.options.replicas > 0;
  }

  /** True once `replicas` replicas hold every write this connection made before the call; true at once when none are asked for. */
  async confirm(): Promise<boolean> {
    if (!this.enabled) return true;
    return (await this.nextWait()) >= this.options.replicas;
  }

  private nextWait(): Promise<number> {
    if (!this.inFlight) return (this.inFlight = this.send());
    this.next ??= this.inFlight.catch(() => 0).then(() => {
      this.next = undefined;
      return (this.inFlight = this.send());
    });
    return this.next;
  }

  private send(): Promise<number> {
    const sent: Promise<number> = this.redis.wait(this.options.replicas, this.options.timeoutMs).finally(() => {
      if (this.inFlight === sent) this.inFlight = undefined;
    });
    return sent;
  }
}

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { drumlineKeys, keyLayoutOf } from './keys.js';
import type { Logger } from './logger.js';
import type { RedisConnection } from './redis.js';
import { luaScript } from './scripts.js';

export interface LeaderElectionOptions {
  /** Lease length: a dead leader is replaced at most this long (plus one poll) after its last renewal. */
  leaseTtlMs: number;
  logger: Logger;
  /** How the leader history names this process (default `<hostname>:<pid>`: the pod or container, and the process). */
  replica?: string;
}

/** Terms the leader history keeps (see leader-history.ts): enough to explain the ticks a ledger keeps. */
export const LEADER_TERMS_KEPT = 1000;

export interface LeaderElectionEvents {
  elected: [term: number];
  demoted: [reason: string];
}

/**
 * Leader election on one Redis key with a TTL lease. The leader renews every third of the TTL;
 * standbys try to take it every tenth. Each leader gets a fresh random token, and every write it
 * makes is fenced by a Lua check of that token, so a leader that was paused past its lease
 * (GC, SIGSTOP, a network partition) has its writes refused. Locally, `isLeader` turns false as
 * soon as the lease may have expired, measured on the monotonic clock, before Redis says so.
 */
export class LeaderElection extends EventEmitter<LeaderElectionEvents> {
  private readonly keys;
  private readonly acquireLease;
  private readonly renewLease;
  private readonly handOverLease;
  private readonly fencedWrite;
  private currentToken: string | undefined;
  private currentTerm: number | undefined;
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private cycle: Promise<void> = Promise.resolve();
  private connectedOnce: boolean;
  private readonly replica: string;

  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
    private readonly options: LeaderElectionOptions,
  ) {
    super();
    this.connectedOnce = redis.status === 'ready';
    this.keys = drumlineKeys(prefix, keyLayoutOf(redis));
    this.acquireLease = luaScript(redis, 'acquire-lease');
    this.renewLease = luaScript(redis, 'renew-leadership');
    this.handOverLease = luaScript(redis, 'hand-over-leadership');
    this.replica = options.replica ?? `${hostname()}:${process.pid}`;
    this.fencedWrite = luaScript(redis, 'fenced-hash-write');
    redis.on('ready', this.onReconnected);
  }

  /**
   * After a reconnect, Redis may not hold what this leader wrote: a failover to a replica that had
   * not received it, or a restart that lost the last second of the append-only file. A leader that
   * carried on from what it remembers would skip the ticks it had added there and that are gone, so
   * it hands the lease back and leads again, if elected, from what Redis holds now.
   */
  private readonly onReconnected = (): void => {
    if (!this.connectedOnce) {
      this.connectedOnce = true;
      return;
    }
    const token = this.currentToken;
    const term = this.currentTerm;
    if (!token) return;
    this.demote('reconnected to Redis: leading again from what it holds now');
    void this.handOver(token, term).catch(() => undefined);
  };

  /** Lets the lease go, if still ours, and notes the term's end in the leader history. */
  private handOver(token: string, term: number | undefined): Promise<unknown> {
    return this.handOverLease([this.keys.leader, this.keys.leaderSeen], [token, term ?? 0, Date.now()]);
  }

  /**
   * Sets and deletes fields of a hash only while this process holds the lease (checked in Lua).
   * Returns false, and demotes this process, when Redis refuses: another scheduler leads now.
   */
  async writeHashFenced(hash: string, sets: [field: string, value: string][], deletes: string[] = []): Promise<boolean> {
    const chunk = 500;
    for (let start = 0; start < Math.max(sets.length, deletes.length); start += chunk) {
      const token = this.token;
      if (!token) return false;
      const part = sets.slice(start, start + chunk);
      const written = await this.fencedWrite([this.keys.leader, hash], [token, part.length, ...part.flat(), ...deletes.slice(start, start + chunk)]);
      if (written !== 1) {
        this.lostLease('a fenced write was refused: another scheduler holds the lease');
        return false;
      }
    }
    return true;
  }

  /** True while this process holds a lease that cannot have expired yet. */
  get isLeader(): boolean {
    return this.currentToken !== undefined && performance.now() < this.validUntil;
  }

  /** The term of the lease this process holds (Redis counts them up, one per election); undefined when not leading. */
  get term(): number | undefined {
    return this.isLeader ? this.currentTerm : undefined;
  }

  /** The fencing token to pass to fenced writes; undefined when not leading. */
  get token(): string | undefined {
    return this.isLeader ? this.currentToken : undefined;
  }

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  /** Stops campaigning and hands the lease over at once if this process holds it. */
  async stop(): Promise<void> {
    this.running = false;
    this.redis.off('ready', this.onReconnected);
    clearTimeout(this.timer);
    await this.cycle;
    const token = this.currentToken;
    const term = this.currentTerm;
    if (token) {
      this.demote('shutting down');
      await this.handOver(token, term).catch(() => undefined);
    }
  }

  /** Called by fenced writers when Redis refused a write: someone else leads now. */
  lostLease(reason: string): void {
    if (this.currentToken) this.demote(reason);
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.cycle = this.campaign().finally(() => {
        const ttl = this.options.leaseTtlMs;
        this.schedule(this.currentToken ? Math.max(50, Math.floor(ttl / 3)) : Math.max(50, Math.floor(ttl / 10)));
      });
    }, delayMs);
  }

  private async campaign(): Promise<void> {
    const ttl = this.options.leaseTtlMs;
    const startedAt = performance.now();
    try {
      if (this.currentToken) {
        const renewed = await this.renewLease([this.keys.leader, this.keys.leaderSeen], [this.currentToken, ttl, this.currentTerm ?? 0, Date.now()]);
        if (renewed === 1) this.validUntil = startedAt + ttl;
        else this.demote('lease taken by another scheduler');
        return;
      }
      const token = randomUUID();
      const now = Date.now();
      const record = JSON.stringify({ replica: this.replica, electedAt: now });
      const { leader, leaderTerm, leaderTerms, leaderSeen } = this.keys;
      const term = Number(await this.acquireLease([leader, leaderTerm, leaderTerms, leaderSeen], [token, ttl, record, now, LEADER_TERMS_KEPT]));
      if (term > 0 && this.running) {
        this.currentToken = token;
        this.currentTerm = term;
        this.validUntil = startedAt + ttl;
        this.options.logger.info({ term }, 'elected leader');
        this.emit('elected', term);
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, 'leader election round failed');
      if (this.currentToken && performance.now() >= this.validUntil) this.demote('could not renew the lease in time');
    }
  }

  private demote(reason: string): void {
    this.currentToken = undefined;
    this.currentTerm = undefined;
    this.validUntil = 0;
    this.options.logger.warn({ reason }, 'no longer leader');
    this.emit('demoted', reason);
  }
}

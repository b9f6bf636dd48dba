import { drumlineKeys, keyLayoutOf, type DrumlineKeys } from '../keys.js';
import type { RedisConnection } from '../redis.js';
import { luaScript } from '../scripts.js';
import { decodeLedgerTick, encodeTickEvent } from './tick-codec.js';
import type { LedgerTick, TickEvent } from './tick-events.js';

/** How much of its history each schedule's ledger keeps: whichever of the two is smaller. */
export interface TickLedgerRetention {
  readonly maxTicks: number;
  readonly maxAgeMs: number;
}

export const DEFAULT_TICK_LEDGER_RETENTION: TickLedgerRetention = Object.freeze({ maxTicks: 1000, maxAgeMs: 7 * 24 * 3_600_000 });

/** An event for the ledger of one tick of one schedule. */
export interface TickLedgerEntry {
  readonly scheduleId: string;
  readonly tick: number;
  readonly event: TickEvent;
}

/** A script call stays short however many events a pass has: Redis serves nobody else while it runs. */
const MAX_PER_CALL = 500;

/**
 * Each schedule's tick ledger: what the leader and the workers decided about each of its recent
 * ticks, so that a missed or late tick can be explained afterwards. Each writer appends in batches:
 * the leader a pass's events in one call, a worker those of one turn of its event loop (LedgerBatch),
 * a backfill its ticks.
 */
export class TickLedger {
  readonly keys: DrumlineKeys;
  private readonly appendScript;

  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
    readonly retention: TickLedgerRetention = DEFAULT_TICK_LEDGER_RETENTION,
  ) {
    this.keys = drumlineKeys(prefix, keyLayoutOf(redis));
    this.appendScript = luaScript(redis, 'append-ticks');
  }

  /** The retention arguments every ledger-writing script takes after its own: now, max ticks, max age. */
  retentionArgs(now: number): [number, number, number] {
    return [now, this.retention.maxTicks, this.retention.maxAgeMs];
  }

  async append(entries: readonly TickLedgerEntry[], now = Date.now()): Promise<void> {
    for (let start = 0; start < entries.length; start += MAX_PER_CALL) {
      const part = entries.slice(start, start + MAX_PER_CALL);
      await this.appendScript(
        part.map(({ scheduleId }) => this.keys.tickLedger(scheduleId)),
        [...this.retentionArgs(now), ...part.flatMap(({ tick, event }) => [tick, encodeTickEvent(tick, event)])],
      );
    }
  }


  /**
   * The ticks kept between `from` and `to` (inclusive, epoch ms), newest first unless `oldestFirst`,
   * at most `limit` of them.
   */
  async read(scheduleId: string, range: { from: number; to: number; limit: number; oldestFirst?: boolean }): Promise<LedgerTick[]> {
    const key = this.keys.tickLedger(scheduleId);
    const members = range.oldestFirst
      ? await this.redis.zrangebyscore(key, range.from, range.to, 'LIMIT', 0, range.limit)
      : await this.redis.zrevrangebyscore(key, range.to, range.from, 'LIMIT', 0, range.limit);
    return members.map(decodeLedgerTick);
  }

  /**
   * Several ledgers' ticks in one round trip (a pipeline: the ledgers share Drumline's slot on a
   * Cluster), each read as `read` would but left encoded (decodeLedgerTick, memberRan): for a page
   * of schedules, whose ledgers `read` would take one round trip each.
   */
  async readManyMembers(reads: readonly { scheduleId: string; from: number; to: number; limit: number }[]): Promise<string[][]> {
    if (reads.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const { scheduleId, from, to, limit } of reads) pipeline.zrevrangebyscore(this.keys.tickLedger(scheduleId), to, from, 'LIMIT', 0, limit);
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, members]) => {
      if (error) throw error;
      return members as string[];
    });
  }

  /** One tick, if the ledger keeps it. */
  async readTick(scheduleId: string, tick: number): Promise<LedgerTick | undefined> {
    const [member] = await this.redis.zrangebyscore(this.keys.tickLedger(scheduleId), tick, tick);
    return member === undefined ? undefined : decodeLedgerTick(member);
  }

}

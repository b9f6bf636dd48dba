import { drumlineKeys, TickLedger, type TickLedgerEntry } from '@drumline/core/runtime';
import type { RedisServer } from '../support/redis-server.js';
import { round } from '../support/stats.js';

/** The tick ledgers' bytes per schedule in a run, and what a full ledger costs at the default retention. */
export interface LedgerMemory {
  /** Every ledger of the run (sampled: MEMORY USAGE of up to 1000 of them), divided by the schedules. */
  bytesPerScheduleInRun: number;
  ledgers: number;
  /** A tick added, started and completed, as the real writers encode it, in a ledger of 1000 ticks. */
  bytesPerTick: number;
  /** A full ledger at the default retention (last 1000 ticks, 7 days): every minute, hour and day. */
  perScheduleAtRetention: { everyMinute: number; hourly: number; daily: number };
}

const SAMPLED = 1000;

async function usage(redis: RedisServer, key: string): Promise<number> {
  return Number((await redis.client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
}

/** The ledgers under `prefix`, found with SCAN, and their bytes per schedule. */
async function inRun(redis: RedisServer, prefix: string, schedules: number): Promise<{ bytesPerScheduleInRun: number; ledgers: number }> {
  const pattern = `${drumlineKeys(prefix).tickLedger('')}*`;
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = (await redis.client.scan(cursor, 'MATCH', pattern, 'COUNT', 5000)) as [string, string[]];
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  const sample = keys.filter((_, index) => index % Math.max(1, Math.ceil(keys.length / SAMPLED)) === 0);
  const sampled = await Promise.all(sample.map((key) => usage(redis, key)));
  const average = sampled.length === 0 ? 0 : sampled.reduce((sum, bytes) => sum + bytes, 0) / sampled.length;
  return { bytesPerScheduleInRun: round((average * keys.length) / schedules, 0), ledgers: keys.length };
}

/** Full ledgers written with the real TickLedger, under a prefix of their own, measured and deleted. */
async function atRetention(redis: RedisServer): Promise<Omit<LedgerMemory, 'bytesPerScheduleInRun' | 'ledgers'>> {
  const ledger = new TickLedger(redis.client, 'bench-ledger-memory');
  const now = Date.now();
  const worker = 'worker-7d9f8c6b5-x2k4q:1';
  const fill = async (id: string, ticks: number, stepMs: number): Promise<number> => {
    const entries: TickLedgerEntry[] = [];
    for (let index = 0; index < ticks; index += 1) {
      const tick = now - (ticks - index) * stepMs;
      entries.push(
        { scheduleId: id, tick, event: { kind: 'materialized', at: tick - 14_750, term: 12, late: false } },
        { scheduleId: id, tick, event: { kind: 'started', at: tick + 3, attempt: 1, worker } },
        { scheduleId: id, tick, event: { kind: 'completed', at: tick + 250, attempt: 1, worker } },
      );
    }
    await ledger.append(entries, now);
    const bytes = await usage(redis, ledger.keys.tickLedger(id));
    await redis.client.del(ledger.keys.tickLedger(id));
    return bytes;
  };
  const everyMinute = await fill('every-minute', 1000, 60_000);
  const hourly = await fill('hourly', 168, 3_600_000);
  const daily = await fill('daily', 7, 86_400_000);
  return { bytesPerTick: round(everyMinute / 1000, 0), perScheduleAtRetention: { everyMinute, hourly, daily } };
}

export async function ledgerMemory(redis: RedisServer, prefix: string, schedules: number): Promise<LedgerMemory> {
  return { ...(await inRun(redis, prefix, schedules)), ...(await atRetention(redis)) };
}

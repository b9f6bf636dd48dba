import { fc, test } from '@fast-check/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../../../../tests/support/redis.js';
import { closeRedis, createRedis } from '../redis.js';
import { decodeLedgerTick, memberTick } from './tick-codec.js';
import { TickLedger } from './tick-ledger.js';
import type { TickEvent } from './tick-events.js';
import { propertyRuns, propertySeed as seed } from './tick-event.arbitrary.js';

const redis = createRedis({ REDIS_URL: TEST_REDIS_URL });
const prefix = uniquePrefix('core-tick-ledger');
let schedule = 0;

afterAll(async () => {
  await deleteKeys(redis, prefix);
  await closeRedis(redis);
});

/** Writes as the leader's passes and the workers' batches do: ticks out of order, time moving on (on a coarse grid, so ticks fall on the age limit itself). */
type Write = { tick: number; advanceMs: number; alone: boolean };
const writes = fc.array(
  fc.record({ tick: fc.integer({ min: 0, max: 40 }).map((n) => n * 1000), advanceMs: fc.integer({ min: 0, max: 8 }).map((n) => n * 500), alone: fc.boolean() }),
  { minLength: 1, maxLength: 40 },
);

describe('the tick ledger in Redis', () => {
  test.prop([writes, fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 30 }).map((n) => n * 1000)], { numRuns: Math.ceil(propertyRuns / 2), seed })(
    'keeps exactly what a model keeps: every event of a tick in the order written; each new tick trims it to the newest max-ticks ticks, none older than max-age',
    async (steps: Write[], maxTicks, maxAgeMs) => {
      const id = `s${++schedule}`;
      const ledger = new TickLedger(redis, prefix, { maxTicks, maxAgeMs });
      const model = new Map<number, TickEvent[]>();
      let now = 0;
      for (const [index, { tick, advanceMs, alone }] of steps.entries()) {
        now += advanceMs;
        const event: TickEvent = { kind: 'started', at: now, attempt: index + 1, worker: `w ${index}|%` };
        // Alone, or in a call with another schedule's event, as a batch of a tick's runs is.
        await ledger.append([{ scheduleId: id, tick, event }, ...(alone ? [] : [{ scheduleId: `${id}-other`, tick, event }])], now);
        const isNew = !model.has(tick);
        model.set(tick, [...(model.get(tick) ?? []), event]);
        if (!isNew) continue; // an event for a tick it holds trims nothing
        for (const kept of model.keys()) if (kept < now - maxAgeMs) model.delete(kept);
        const newest = [...model.keys()].sort((a, b) => b - a);
        for (const dropped of newest.slice(maxTicks)) model.delete(dropped);
      }
      const stored = await ledger.read(id, { from: 0, to: Number.MAX_SAFE_INTEGER, limit: 1000, oldestFirst: true });
      const expected = [...model.entries()].sort(([a], [b]) => a - b).map(([tick, events]) => ({ tick, events }));
      expect(stored).toEqual(expected);
    },
  );

  it('reads several ledgers in one call as each would be read alone', async () => {
    const ledger = new TickLedger(redis, prefix);
    const event = (at: number): TickEvent => ({ kind: 'materialized', at, term: 1, late: false });
    await ledger.append([1000, 2000, 3000].map((tick) => ({ scheduleId: 'many-a', tick, event: event(tick) })), 4000);
    await ledger.append([{ scheduleId: 'many-b', tick: 2500, event: event(2500) }], 4000);
    const reads = [
      { scheduleId: 'many-a', from: 1500, to: 5000, limit: 1 },
      { scheduleId: 'many-a', from: 0, to: 5000, limit: 10 },
      { scheduleId: 'many-b', from: 0, to: 5000, limit: 10 },
      { scheduleId: 'many-none', from: 0, to: 5000, limit: 10 },
    ];
    const many = await ledger.readManyMembers(reads);
    expect(many.map((members) => members.map(decodeLedgerTick))).toEqual(await Promise.all(reads.map((read) => ledger.read(read.scheduleId, read))));
    expect(many.map((members) => members.map(memberTick))).toEqual([[3000], [3000, 2000, 1000], [2500], []]);
  });

  it('lets a ledger expire its max age after its last write, so a deleted schedule leaves nothing behind', async () => {
    const ledger = new TickLedger(redis, prefix, { maxTicks: 10, maxAgeMs: 60_000 });
    await ledger.append([{ scheduleId: 'gone', tick: Date.now(), event: { kind: 'materialized', at: Date.now(), term: 1, late: false } }]);
    const ttl = await redis.pttl(ledger.keys.tickLedger('gone'));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });
});

import { TickLedger } from '@drumline/core/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { LedgerBatch } from '../src/ledger-batch.js';

const redis = connectTestRedis();
const prefix = uniquePrefix('worker-ledger-batch');

afterAll(async () => {
  await deleteKeys(redis, prefix);
  await redis.quit();
});

describe('LedgerBatch', () => {
  it("writes every event noted, whoever's tick, and `settled` waits until they are in Redis", async () => {
    const ledger = new TickLedger(redis, prefix);
    const batch = new LedgerBatch(ledger, { warn: () => undefined });
    const tick = Date.now() - 1000;
    for (const id of ['a', 'b', 'c']) batch.note({ scheduleId: id, tick, event: { kind: 'started', at: tick + 1, attempt: 1, worker: 'w:1' } });
    batch.note({ scheduleId: 'a', tick, event: { kind: 'completed', at: tick + 9, attempt: 1, worker: 'w:1' } });
    await batch.settled();
    expect((await ledger.readTick('a', tick))?.events.map((event) => event.kind)).toEqual(['started', 'completed']);
    expect((await ledger.readTick('c', tick))?.events.map((event) => event.kind)).toEqual(['started']);
  });

  it('logs a write Redis refuses and carries on: the run it tells of is not failed by it', async () => {
    const broken = connectTestRedis();
    await broken.quit();
    const warnings: unknown[] = [];
    const batch = new LedgerBatch(new TickLedger(broken, prefix), { warn: (...args: unknown[]) => void warnings.push(args) });
    batch.note({ scheduleId: 'a', tick: 1, event: { kind: 'duplicate', at: 2, worker: 'w:1' } });
    await batch.settled();
    expect(warnings).toHaveLength(1);
  });
});

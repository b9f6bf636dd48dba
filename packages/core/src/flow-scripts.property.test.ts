import { fc, test } from '@fast-check/vitest';
import { afterAll, describe, expect } from 'vitest';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../../../tests/support/redis.js';
import { drumlineKeys } from './keys.js';
import { closeRedis, createRedis } from './redis.js';
import { luaScript } from './scripts.js';

// The flow-control scripts (lua/flow-*.lua) against a slow model, on generated sequences of what
// runs do: enqueue (admit, some taking their place at once), ask before their handler (acquire), end
// (release), and time passing.
// Invariants: never more than `limit` places held at once; a run is let through only while the
// runs enqueued before it that still wait leave a place free (first come, first served); every run asking
// again after every other run ended gets through (nothing is stuck).
const redis = createRedis({ REDIS_URL: TEST_REDIS_URL });
const prefix = uniquePrefix('core-flow-scripts');
const admit = luaScript(redis, 'flow-admit');
const acquire = luaScript(redis, 'flow-acquire');
const release = luaScript(redis, 'flow-release');
const STALE_MS = 90_000;
const HOLD_MS = 30_000;
// Longer than any generated case lasts (60 steps of at most 400 ms): lapses are the worker tests' to check.
const RESERVE_MS = 30_000;
let sequence = 0;

afterAll(async () => {
  await deleteKeys(redis, prefix);
  await closeRedis(redis);
});

/** `reserve`: the run may take its place at enqueue (a run with an id of its own under a concurrency limit only). */
type Step = { kind: 'enqueue'; reserve: boolean } | { kind: 'ask'; run: number } | { kind: 'end'; run: number } | { kind: 'wait'; ms: number };

const steps = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.boolean().map<Step>((reserve) => ({ kind: 'enqueue', reserve })) },
    { weight: 4, arbitrary: fc.nat(11).map<Step>((run) => ({ kind: 'ask', run })) },
    { weight: 3, arbitrary: fc.nat(11).map<Step>((run) => ({ kind: 'end', run })) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 400 }).map<Step>((ms) => ({ kind: 'wait', ms })) },
  ),
  { minLength: 1, maxLength: 60 },
);

const runs = Number(process.env.DRUMLINE_PROPERTY_RUNS ?? 60);
const seed = process.env.DRUMLINE_PROPERTY_SEED ? Number(process.env.DRUMLINE_PROPERTY_SEED) : 20261202;

describe('the flow-control scripts', () => {
  test.prop([fc.integer({ min: 1, max: 3 }), steps], { numRuns: runs, seed })(
    'hold at most `limit` places, let runs through first come first served, and leave none stuck',
    async (limit, plan) => {
      const keys = drumlineKeys(prefix).flow('model', 'concurrency', `case-${++sequence}`);
      let now = 1_800_000_000_000 + sequence * 1_000_000;
      let arrival = 0;
      // The model: which runs were enqueued (in order), which hold a place, which have ended.
      const enqueued: string[] = [];
      const holding = new Set<string>();
      const ended = new Set<string>();
      const take = async (id: string) => {
        const reply = (await acquire([keys.slots, keys.line, keys.seen], [id, id, limit, now, HOLD_MS, arrival, STALE_MS])) as number[];
        return reply[0] === 1;
      };
      for (const step of plan) {
        if (step.kind === 'wait') now += step.ms;
        if (step.kind === 'enqueue') {
          const id = `run-${enqueued.length}`;
          enqueued.push(id);
          arrival = now;
          const nobodyAhead = enqueued.slice(0, -1).every((other) => holding.has(other) || ended.has(other));
          const mayTake = step.reserve && nobodyAhead && holding.size < limit;
          const reply = (await admit([keys.slots, keys.line, keys.seen, keys.seq], [id, limit, now, now, STALE_MS, step.reserve ? RESERVE_MS : 0])) as number[];
          expect(reply[0] === 2, mayTake ? `${id} did not take the free place` : `${id} took a place`).toBe(mayTake);
          if (reply[0] === 2) {
            // A place taken at enqueue: only when asked for, nobody waits ahead, and one is free.
            const ahead = enqueued.slice(0, -1).filter((other) => !holding.has(other) && !ended.has(other));
            expect(step.reserve).toBe(true);
            expect(ahead, `${id} took a place ahead of ${ahead.join(', ')}`).toEqual([]);
            expect(holding.size).toBeLessThan(limit);
            expect(reply[1]).toBe(now + RESERVE_MS);
            holding.add(id);
          }
        }
        const id = step.kind === 'ask' || step.kind === 'end' ? enqueued[step.run] : undefined;
        if (!id || ended.has(id)) continue;
        if (step.kind === 'ask' && !holding.has(id)) {
          if (await take(id)) {
            // First come, first served: the free places go to the runs that waited longest, so the
            // runs enqueued before it and still waiting must have left it a place.
            const ahead = enqueued.slice(0, enqueued.indexOf(id)).filter((other) => !holding.has(other) && !ended.has(other));
            expect(ahead.length, `${id} let through ahead of ${ahead.join(', ')}`).toBeLessThan(limit - holding.size);
            holding.add(id);
          }
        }
        if (step.kind === 'end' && holding.has(id)) {
          await release([keys.slots, keys.line], [now, id, limit]);
          holding.delete(id);
          ended.add(id);
        }
        expect(holding.size).toBeLessThanOrEqual(limit);
        expect(await redis.zcard(keys.slots)).toBe(holding.size);
      }
      // Every run still waiting gets through in its turn once the holders end.
      for (const id of enqueued) {
        if (ended.has(id)) continue;
        if (!holding.has(id)) expect(await take(id), `${id} stuck`).toBe(true);
        await release([keys.slots, keys.line], [now, id, limit]);
        ended.add(id);
      }
      expect(await redis.zcard(keys.line)).toBe(0);
    },
  );
});

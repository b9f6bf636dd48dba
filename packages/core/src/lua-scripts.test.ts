import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { drumlineKeys } from './keys.js';
import { luaScript } from './scripts.js';

// Stryker cannot mutate Lua, so each branch of core's scripts is pinned here, one test per branch,
// by what the script leaves in Redis: a lease's TTL, a fence that refuses a stale token, a write
// that stays undone. Each test removes what it touches first, so any one of them runs alone.
const redis = connectTestRedis();
const prefix = uniquePrefix('core-lua');
const keys = drumlineKeys(prefix);
const acquire = luaScript(redis, 'acquire-lease');
const renew = luaScript(redis, 'renew-lease');
const renewLeadership = luaScript(redis, 'renew-leadership');
const handOver = luaScript(redis, 'hand-over-leadership');
const release = luaScript(redis, 'release-lease');
const fencedWrite = luaScript(redis, 'fenced-hash-write');
const putApiSchedule = luaScript(redis, 'put-api-schedule');
const flowRelease = luaScript(redis, 'flow-release');

/** The lease TTL the scripts are given; far from any other number here, so a swapped argument shows. */
const LEASE_MS = 45_000;
/** Time the test itself may take between the script and the PTTL read; a TTL this short of LEASE_MS is still LEASE_MS. */
const SLACK_MS = 5_000;
const HASH = `${prefix}:drumline:fenced-test`;

beforeEach(async () => {
  await deleteKeys(redis, prefix);
});

afterAll(async () => {
  await deleteKeys(redis, prefix);
  await redis.quit();
});

function expectTtlOf(pttl: number, ttlMs: number) {
  expect(pttl).toBeLessThanOrEqual(ttlMs);
  expect(pttl).toBeGreaterThan(ttlMs - SLACK_MS);
}

const leaseKeys = [keys.leader, keys.leaderTerm, keys.leaderTerms, keys.leaderSeen];

describe('acquire-lease.lua', () => {
  it('takes a free lease with the token and the given TTL, answers the new term and records it in the leader history', async () => {
    expect(await acquire(leaseKeys, ['token-a', LEASE_MS, '{"replica":"a"}', 1000, 10])).toBe(1);
    expect(await redis.get(keys.leader)).toBe('token-a');
    expectTtlOf(await redis.pttl(keys.leader), LEASE_MS);
    await redis.del(keys.leader);
    expect(await acquire(leaseKeys, ['token-b', LEASE_MS, '{"replica":"b"}', 2000, 10])).toBe(2);
    expect(await redis.hgetall(keys.leaderTerms)).toEqual({ 1: '{"replica":"a"}', 2: '{"replica":"b"}' });
    expect(await redis.hgetall(keys.leaderSeen)).toEqual({ 1: '1000', 2: '2000' });
  });

  it('keeps only the given number of recent terms in the history', async () => {
    await redis.set(keys.leaderTerm, '9');
    await redis.hset(keys.leaderTerms, '7', 'old', '8', 'kept', '9', 'kept');
    await redis.hset(keys.leaderSeen, '7', '1', '8', '2', '9', '3');
    expect(await acquire(leaseKeys, ['token', LEASE_MS, 'new', 4, 3])).toBe(10);
    expect(Object.keys(await redis.hgetall(keys.leaderTerms)).sort()).toEqual(['10', '8', '9']);
    expect(Object.keys(await redis.hgetall(keys.leaderSeen)).sort()).toEqual(['10', '8', '9']);
  });

  it('refuses a lease somebody holds with 0, leaving holder, TTL, term and history as they were', async () => {
    await redis.set(keys.leader, 'holder', 'PX', 10_000);
    await redis.set(keys.leaderTerm, '7');
    expect(await acquire(leaseKeys, ['usurper', LEASE_MS, 'x', 1, 10])).toBe(0);
    expect(await redis.get(keys.leader)).toBe('holder');
    expectTtlOf(await redis.pttl(keys.leader), 10_000);
    expect(await redis.get(keys.leaderTerm)).toBe('7');
    expect(await redis.exists(keys.leaderTerms, keys.leaderSeen)).toBe(0);
  });
});

describe('renew-leadership.lua', () => {
  it("extends its holder's lease and notes when its term was last seen", async () => {
    await redis.set(keys.leader, 'holder', 'PX', 1_000);
    expect(await renewLeadership([keys.leader, keys.leaderSeen], ['holder', LEASE_MS, 4, 12345])).toBe(1);
    expectTtlOf(await redis.pttl(keys.leader), LEASE_MS);
    expect(await redis.hget(keys.leaderSeen, '4')).toBe('12345');
  });

  it('refuses another token with 0 and notes nothing', async () => {
    await redis.set(keys.leader, 'holder', 'PX', 1_000);
    expect(await renewLeadership([keys.leader, keys.leaderSeen], ['stale', LEASE_MS, 4, 12345])).toBe(0);
    expect(await redis.pttl(keys.leader)).toBeLessThanOrEqual(1_000);
    expect(await redis.exists(keys.leaderSeen)).toBe(0);
  });
});

describe('hand-over-leadership.lua', () => {
  it("deletes its holder's lease and notes the term's end", async () => {
    await redis.set(keys.leader, 'holder', 'PX', 10_000);
    expect(await handOver([keys.leader, keys.leaderSeen], ['holder', 4, 999])).toBe(1);
    expect(await redis.exists(keys.leader)).toBe(0);
    expect(await redis.hget(keys.leaderSeen, '4')).toBe('999');
  });

  it("leaves another's lease and notes nothing", async () => {
    await redis.set(keys.leader, 'holder', 'PX', 10_000);
    expect(await handOver([keys.leader, keys.leaderSeen], ['stale', 4, 999])).toBe(0);
    expect(await redis.get(keys.leader)).toBe('holder');
    expect(await redis.exists(keys.leaderSeen)).toBe(0);
  });
});

describe('renew-lease.lua', () => {
  it("extends its holder's lease to the given TTL and answers 1", async () => {
    await redis.set(keys.leader, 'holder', 'PX', 1_000);
    expect(await renew([keys.leader], ['holder', LEASE_MS])).toBe(1);
    expectTtlOf(await redis.pttl(keys.leader), LEASE_MS);
  });

  it("refuses a stale token with 0 and leaves the new holder's lease alone", async () => {
    await redis.set(keys.leader, 'new-holder', 'PX', 10_000);
    expect(await renew([keys.leader], ['stale', LEASE_MS])).toBe(0);
    expect(await redis.get(keys.leader)).toBe('new-holder');
    expectTtlOf(await redis.pttl(keys.leader), 10_000);
  });

  it('does not bring back a lease that expired', async () => {
    expect(await renew([keys.leader], ['holder', LEASE_MS])).toBe(0);
    expect(await redis.exists(keys.leader)).toBe(0);
  });
});

describe('release-lease.lua', () => {
  it("deletes its holder's lease, so a standby can take it at once", async () => {
    await redis.set(keys.leader, 'holder', 'PX', LEASE_MS);
    expect(await release([keys.leader], ['holder'])).toBe(1);
    expect(await redis.exists(keys.leader)).toBe(0);
  });

  it("refuses a stale token with 0 and leaves the new holder's lease", async () => {
    await redis.set(keys.leader, 'new-holder', 'PX', LEASE_MS);
    expect(await release([keys.leader], ['stale'])).toBe(0);
    expect(await redis.get(keys.leader)).toBe('new-holder');
  });
});

describe('fenced-hash-write.lua', () => {
  it('sets and deletes the given fields while the token holds the lease, and answers 1', async () => {
    await redis.set(keys.leader, 'holder', 'PX', LEASE_MS);
    await redis.hset(HASH, { stays: 'x', goes: 'y', 'goes-too': 'z' });
    expect(await fencedWrite([keys.leader, HASH], ['holder', 2, 'a', '1', 'b', '2', 'goes', 'goes-too'])).toBe(1);
    expect(await redis.hgetall(HASH)).toEqual({ stays: 'x', a: '1', b: '2' });
  });

  it('with no pairs, only deletes', async () => {
    await redis.set(keys.leader, 'holder', 'PX', LEASE_MS);
    await redis.hset(HASH, { stays: 'x', goes: 'y' });
    expect(await fencedWrite([keys.leader, HASH], ['holder', 0, 'goes'])).toBe(1);
    expect(await redis.hgetall(HASH)).toEqual({ stays: 'x' });
  });

  it("refuses a stale leader's write with 0 and changes nothing", async () => {
    await redis.set(keys.leader, 'new-holder', 'PX', LEASE_MS);
    await redis.hset(HASH, { goes: 'y' });
    expect(await fencedWrite([keys.leader, HASH], ['stale', 1, 'a', '1', 'goes'])).toBe(0);
    expect(await redis.hgetall(HASH)).toEqual({ goes: 'y' });
  });

  it('refuses every write once the lease has expired', async () => {
    expect(await fencedWrite([keys.leader, HASH], ['holder', 1, 'a', '1'])).toBe(0);
    expect(await redis.exists(HASH)).toBe(0);
  });
});

describe('put-api-schedule.lua', () => {
  const put = (id: string, json: string) => putApiSchedule([keys.schedules, keys.schedulesChanged], [id, json]);
  const apiRecord = (every: number) => JSON.stringify({ id: 's', owner: 'api', every });

  it("creates a new schedule, marks it changed for the leader, and answers 'created'", async () => {
    expect(await put('s', apiRecord(1))).toBe('created');
    expect(await redis.hget(keys.schedules, 's')).toBe(apiRecord(1));
    expect(await redis.smembers(keys.schedulesChanged)).toEqual(['s']);
  });

  it("replaces an api-owned schedule and answers 'replaced'", async () => {
    await redis.hset(keys.schedules, 's', apiRecord(1));
    expect(await put('s', apiRecord(2))).toBe('replaced');
    expect(await redis.hget(keys.schedules, 's')).toBe(apiRecord(2));
    expect(await redis.smembers(keys.schedulesChanged)).toEqual(['s']);
  });

  it("deletes an api-owned schedule with '' and answers 'deleted'", async () => {
    await redis.hset(keys.schedules, 's', apiRecord(1));
    expect(await put('s', '')).toBe('deleted');
    expect(await redis.hexists(keys.schedules, 's')).toBe(0);
    expect(await redis.smembers(keys.schedulesChanged)).toEqual(['s']);
  });

  it("answers 'missing' for deleting what is not there, and writes no record", async () => {
    expect(await put('s', '')).toBe('missing');
    expect(await redis.exists(keys.schedules)).toBe(0);
  });

  it("refuses to replace or delete a code-owned schedule with 'code', changing nothing", async () => {
    const code = JSON.stringify({ id: 's', owner: 'code', every: 1 });
    await redis.hset(keys.schedules, 's', code);
    expect(await put('s', apiRecord(2))).toBe('code');
    expect(await put('s', '')).toBe('code');
    expect(await redis.hget(keys.schedules, 's')).toBe(code);
    expect(await redis.exists(keys.schedulesChanged)).toBe(0);
  });
});

describe('flow-release.lua', () => {
  it("gives back each pair's place and answers each pair with the heads of its own line, as many as it has places free", async () => {
    const now = Date.now();
    const a = keys.flow('release-test', 'concurrency', 'a');
    const b = keys.flow('release-test', 'concurrency', 'b');
    await redis.zadd(a.slots, now + 60_000, 'a-running', now + 60_000, 'a-other');
    await redis.zadd(a.line, 1, 'a-first', 2, 'a-second');
    await redis.zadd(b.slots, now + 60_000, 'b-running', now - 1, 'b-lapsed');
    await redis.zadd(b.line, 1, 'b-first', 2, 'b-second', 3, 'b-third');
    const heads = await flowRelease([a.slots, a.line, b.slots, b.line], [now, 'a-running', 2, 'b-running', 2]);
    // a: one place freed (a-other still holds one); b: both (its other holder had lapsed).
    expect(heads).toEqual([['a-first'], ['b-first', 'b-second']]);
    expect(await redis.zrange(a.slots, 0, -1)).toEqual(['a-other']);
    expect(await redis.zcard(b.slots)).toBe(0);
  });

  it('answers a pair whose key is still full with no heads', async () => {
    const now = Date.now();
    const full = keys.flow('release-test', 'concurrency', 'full');
    await redis.zadd(full.slots, now + 60_000, 'one', now + 60_000, 'two');
    await redis.zadd(full.line, 1, 'waiting');
    expect(await flowRelease([full.slots, full.line], [now, 'not-a-holder', 2])).toEqual([[]]);
  });
});


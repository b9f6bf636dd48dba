import { drumlineKeys, luaScript } from '@drumline/core/runtime';
import { ClaimBatch } from '../src/claim-batch.js';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';

// claim-ticks.lua, branch by branch, called as ClaimBatch calls it. Stryker cannot mutate Lua:
// these tests are what fails when a claim's TTL, the duplicate check, the pause check or the
// overlap lock (its TTL, its NX, its owner check) is taken out. Each test starts from no keys.
const redis = connectTestRedis();
const prefix = uniquePrefix('worker-claim-ticks');
const keys = drumlineKeys(prefix);
const claimTicks = luaScript(redis, 'claim-ticks', new URL('../src/lua/', import.meta.url));

/** Far apart from each other and from any other number here, so a swapped argument shows. */
const CLAIM_SECONDS = 3_600;
const LOCK_MS = 45_000;
/** Time the test may take between the script and the TTL read. */
const SLACK_MS = 5_000;

interface Run {
  runId: string;
  jobKey: string;
  scheduleId: string;
  createdAt: number;
  /** '' to only check. */
  active: string;
  manual?: boolean;
  startedAt: number;
}
type Reply = [string, string?, number?, string?, number?];

function claim(...runs: Run[]): Promise<Reply[]> {
  const runKeys = runs.flatMap((run) => [keys.tickClaim(run.runId), keys.overlapLock(run.scheduleId), run.jobKey]);
  const runArgs = runs.flatMap((run) => [run.createdAt, run.scheduleId, run.active, run.manual ? '1' : '0', run.runId, run.startedAt]);
  return claimTicks([keys.schedules, keys.schedulesPaused, keys.lastRuns, ...runKeys], [CLAIM_SECONDS, LOCK_MS, 3, ...runArgs]) as Promise<Reply[]>;
}

const record = (id: string, overlap: 'allow' | 'skip' | 'queue') => JSON.stringify({ id, overlap });
const activeRun = (runId: string) => JSON.stringify({ runId, state: 'active' });
const run = (scheduleId: string, tick: number, extra: Partial<Run> = {}): Run => ({
  runId: `${scheduleId}@${tick}`,
  // No such hash unless a test writes it: the script then leaves BullMQ's fields alone.
  jobKey: `${prefix}:default:${scheduleId}@${tick}`,
  scheduleId,
  createdAt: 1_000 + tick,
  startedAt: 2_000 + tick,
  active: activeRun(`${scheduleId}@${tick}`),
  ...extra,
});

beforeEach(async () => {
  await deleteKeys(redis, prefix);
});

afterAll(async () => {
  await deleteKeys(redis, prefix);
  await redis.quit();
});

describe('claim-ticks.lua', () => {
  it('claims a first tick for as long as it is told, and enters it: the run is recorded active', async () => {
    await redis.hset(keys.schedules, 'a', record('a', 'allow'));
    const first = run('a', 1);
    expect(await claim(first)).toEqual([['ok', record('a', 'allow'), 0, 'entered', first.startedAt]]);
    expect(await redis.get(keys.tickClaim(first.runId))).toBe(String(first.createdAt));
    const ttl = await redis.ttl(keys.tickClaim(first.runId));
    expect(ttl).toBeLessThanOrEqual(CLAIM_SECONDS);
    expect(ttl).toBeGreaterThan(CLAIM_SECONDS - SLACK_MS / 1000);
    expect(await redis.hget(keys.lastRuns, 'a')).toBe(first.active);
  });

  it('refuses a later job with the same id (re-added after retention) as a duplicate, recording nothing', async () => {
    await redis.hset(keys.schedules, 'a', record('a', 'allow'));
    const first = run('a', 1);
    await claim({ ...first, active: '' });
    expect(await claim({ ...first, createdAt: first.createdAt + 1 })).toEqual([['duplicate']]);
    expect(await redis.get(keys.tickClaim(first.runId))).toBe(String(first.createdAt));
    expect(await redis.hexists(keys.lastRuns, 'a')).toBe(0);
  });

  it('lets a retry of the claiming job pass again, without extending its claim', async () => {
    await redis.hset(keys.schedules, 'a', record('a', 'allow'));
    const first = run('a', 1);
    await claim(first);
    await redis.expire(keys.tickClaim(first.runId), 100);
    expect((await claim(first))[0]?.[0]).toBe('ok');
    expect(await redis.ttl(keys.tickClaim(first.runId))).toBeLessThanOrEqual(100);
  });

  it("answers 'deleted' for a schedule that is gone, keeping the claim", async () => {
    const gone = run('gone', 1);
    expect(await claim(gone)).toEqual([['deleted']]);
    expect(await redis.exists(keys.tickClaim(gone.runId))).toBe(1);
    expect(await redis.hexists(keys.lastRuns, 'gone')).toBe(0);
  });

  it('only checks a run of a paused schedule: no lock, nothing recorded', async () => {
    await redis.hset(keys.schedules, 'p', record('p', 'skip'));
    await redis.sadd(keys.schedulesPaused, 'p');
    expect(await claim(run('p', 1))).toEqual([['ok', record('p', 'skip'), 1, 'checked']]);
    expect(await redis.exists(keys.overlapLock('p'))).toBe(0);
    expect(await redis.hexists(keys.lastRuns, 'p')).toBe(0);
  });

  it('enters a manual run of a paused schedule', async () => {
    await redis.hset(keys.schedules, 'p', record('p', 'skip'));
    await redis.sadd(keys.schedulesPaused, 'p');
    expect(await claim(run('p', 1, { manual: true }))).toEqual([['ok', record('p', 'skip'), 1, 'entered', 2_001]]);
    expect(await redis.get(keys.overlapLock('p'))).toBe('p@1');
  });

  it("only checks a run asked without an `active` run: no lock, nothing recorded", async () => {
    await redis.hset(keys.schedules, 's', record('s', 'skip'));
    expect(await claim(run('s', 1, { active: '' }))).toEqual([['ok', record('s', 'skip'), 0, 'checked']]);
    expect(await redis.exists(keys.overlapLock('s'))).toBe(0);
    expect(await redis.hexists(keys.lastRuns, 's')).toBe(0);
  });

  it('takes the overlap lock for the run, with the overlap TTL, so a dead holder cannot keep it', async () => {
    await redis.hset(keys.schedules, 's', record('s', 'skip'));
    expect((await claim(run('s', 1)))[0]?.[3]).toBe('entered');
    expect(await redis.get(keys.overlapLock('s'))).toBe('s@1');
    const pttl = await redis.pttl(keys.overlapLock('s'));
    expect(pttl).toBeLessThanOrEqual(LOCK_MS);
    expect(pttl).toBeGreaterThan(LOCK_MS - SLACK_MS);
  });

  it("refuses a second run the lock while the first holds it: 'locked', the first stays the active run", async () => {
    await redis.hset(keys.schedules, 's', record('s', 'queue'));
    const [first, second] = [run('s', 1), run('s', 2)];
    await claim(first);
    expect(await claim(second)).toEqual([['ok', record('s', 'queue'), 0, 'locked']]);
    expect(await redis.get(keys.overlapLock('s'))).toBe(first.runId);
    expect(await redis.hget(keys.lastRuns, 's')).toBe(first.active);
  });

  it('lets the holder in again (a retry, or a run moved back to wait) and renews its lock to the full TTL', async () => {
    await redis.hset(keys.schedules, 's', record('s', 'skip'));
    const first = run('s', 1);
    await claim(first);
    await redis.pexpire(keys.overlapLock('s'), 1_000);
    expect((await claim(first))[0]?.[3]).toBe('entered');
    expect(await redis.pttl(keys.overlapLock('s'))).toBeGreaterThan(LOCK_MS - SLACK_MS);
  });

  it("takes no lock for a schedule that allows overlap: two runs both enter", async () => {
    await redis.hset(keys.schedules, 'a', record('a', 'allow'));
    const replies = await claim(run('a', 1), run('a', 2));
    expect(replies.map((reply) => reply[3])).toEqual(['entered', 'entered']);
    expect(await redis.exists(keys.overlapLock('a'))).toBe(0);
  });

  it("sets an entering run's processedOn to its start, and keeps its first attempt's start for the retries", async () => {
    await redis.hset(keys.schedules, 'a', record('a', 'allow'));
    const first = run('a', 1);
    await redis.hset(first.jobKey, { processedOn: '1' });
    expect((await claim(first))[0]?.[4]).toBe(first.startedAt);
    expect(await redis.hget(first.jobKey, 'processedOn')).toBe(String(first.startedAt));
    const retry = { ...first, startedAt: first.startedAt + 60_000 };
    expect((await claim(retry))[0]?.[4]).toBe(first.startedAt);
    expect(await redis.hget(first.jobKey, 'processedOn')).toBe(String(retry.startedAt));
    expect(JSON.parse((await redis.hget(keys.lastRuns, 'a')) as string)).toMatchObject({ startedAt: first.startedAt });
  });

  it('decides a batch in order, each run as if alone, one reply per run', async () => {
    await redis.hset(keys.schedules, 's', record('s', 'skip'));
    await redis.hset(keys.schedules, 'a', record('a', 'allow'));
    const replies = await claim(run('s', 1), run('s', 2), run('gone', 1), run('a', 1, { active: '' }));
    expect(replies.map((reply) => reply[3] ?? reply[0])).toEqual(['entered', 'locked', 'deleted', 'checked']);
    expect(await redis.exists(keys.tickClaim('gone@1'))).toBe(1);
    expect(await redis.exists(keys.tickClaim('a@1'))).toBe(1);
  });
});

describe('ClaimBatch', () => {
  const batch = (connection = redis) => new ClaimBatch(connection, keys, { tickClaimSeconds: CLAIM_SECONDS, overlapLockMs: LOCK_MS });

  it('sends the claims of one turn together, 500 to a script call, and answers each its own reply, in order', async () => {
    await redis.hset(keys.schedules, 's', record('s', 'skip'));
    await redis.hset(keys.schedules, 'a', record('a', 'allow'));
    const claims = batch();
    // 1001 runs: three script calls. Only the first run of `s` gets its lock; every `a` run enters.
    const runs = Array.from({ length: 1_001 }, (_, i) => (i % 2 === 0 ? run('s', i) : run('a', i)));
    const replies = await Promise.all(runs.map((one) => claims.claim({ ...one, manual: false, takenBefore: false })));
    expect(replies).toHaveLength(1_001);
    expect(replies[0]?.[3]).toBe('entered');
    expect(replies.filter((reply) => reply[3] === 'locked')).toHaveLength(500);
    expect(replies.filter((reply, i) => i % 2 === 1 && reply[3] === 'entered')).toHaveLength(500);
    expect(await redis.get(keys.overlapLock('s'))).toBe('s@0');
    for (const i of [0, 499, 500, 501, 1_000]) expect(await redis.get(keys.tickClaim(runs[i]!.runId))).toBe(String(runs[i]!.createdAt));
  });

  it('rejects every claim of a script call that fails', async () => {
    await redis.hset(keys.schedules, 'a', record('a', 'allow'));
    const connection = connectTestRedis();
    const claims = batch(connection);
    expect((await claims.claim({ ...run('a', 1), manual: false, takenBefore: false }))[0]).toBe('ok');
    connection.disconnect();
    const failed = await Promise.allSettled([claims.claim({ ...run('a', 2), manual: false, takenBefore: false }), claims.claim({ ...run('a', 3), manual: false, takenBefore: false })]);
    expect(failed.map((result) => result.status)).toEqual(['rejected', 'rejected']);
  });
});

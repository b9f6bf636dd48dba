import { once } from 'node:events';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { drumlineKeys } from './keys.js';
import { LeaderElection } from './leader-election.js';
import { createLogger } from './logger.js';

// Leader election on the real Redis, one election (or two) per test under a prefix of its own,
// so any test runs alone. Waits are on the election's events, never on time.
const redis = connectTestRedis();
const logger = createLogger({ app: 'election-test', level: 'silent' });
const LEASE_MS = 45_000;
const SLACK_MS = 5_000;
const started: LeaderElection[] = [];
const connections: ReturnType<typeof connectTestRedis>[] = [];
const prefixes: string[] = [];

function election(prefix: string, leaseTtlMs = LEASE_MS, connection = redis) {
  const created = new LeaderElection(connection, prefix, { leaseTtlMs, logger });
  started.push(created);
  return created;
}
function freshPrefix() {
  const prefix = uniquePrefix('core-election');
  prefixes.push(prefix);
  return prefix;
}
async function elected(candidate: LeaderElection): Promise<number> {
  const [term] = (await once(candidate, 'elected')) as [number];
  return term;
}
/** An election of its own prefix, started and elected. */
async function leading(leaseTtlMs = LEASE_MS, connection = redis) {
  const prefix = freshPrefix();
  const candidate = election(prefix, leaseTtlMs, connection);
  candidate.start();
  await elected(candidate);
  return { prefix, keys: drumlineKeys(prefix), candidate };
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((candidate) => candidate.stop()));
  for (const connection of connections.splice(0)) connection.disconnect();
});

afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(redis, prefix);
  await redis.quit();
});

describe('LeaderElection', () => {
  it('takes a free lease: elected with term 1, leading, holding the key with its token and the lease TTL', async () => {
    const prefix = freshPrefix();
    const keys = drumlineKeys(prefix);
    const candidate = election(prefix);
    expect(candidate.isLeader).toBe(false);
    expect(candidate.token).toBeUndefined();
    expect(candidate.term).toBeUndefined();
    candidate.start();
    expect(await elected(candidate)).toBe(1);
    expect(candidate.isLeader).toBe(true);
    expect(candidate.term).toBe(1);
    expect(candidate.token).toEqual(expect.any(String));
    expect(await redis.get(keys.leader)).toBe(candidate.token);
    const pttl = await redis.pttl(keys.leader);
    expect(pttl).toBeLessThanOrEqual(LEASE_MS);
    expect(pttl).toBeGreaterThan(LEASE_MS - SLACK_MS);
  });

  it('stays a standby while another holds the lease, and takes it, with the next term, once it is let go', async () => {
    const prefix = freshPrefix();
    const first = election(prefix, 300);
    first.start();
    expect(await elected(first)).toBe(1);
    const second = election(prefix, 300);
    const secondElected = elected(second);
    second.start();
    // The leader renews (its PTTL goes up) while the standby, trying every tenth of the lease, stays one.
    const keys = drumlineKeys(prefix);
    for (let previous = await redis.pttl(keys.leader), now = previous; now <= previous; now = await redis.pttl(keys.leader)) previous = now;
    expect(second.isLeader).toBe(false);
    expect(await redis.get(keys.leader)).toBe(first.token);
    await first.stop();
    expect(first.isLeader).toBe(false);
    expect(first.term).toBeUndefined();
    expect(await secondElected).toBe(2);
    expect(second.isLeader).toBe(true);
    expect(second.term).toBe(2);
  });

  it('renews its lease while it leads: the key outlives several TTLs and is still its own', async () => {
    const { keys, candidate } = await leading(300);
    const token = candidate.token;
    // Watch the PTTL go up again three times: each is a renewal, to no more than the TTL.
    for (let renewals = 0; renewals < 3; ) {
      const before = await redis.pttl(keys.leader);
      const after = await redis.pttl(keys.leader);
      if (after > before) {
        renewals += 1;
        expect(after).toBeLessThanOrEqual(300);
      }
    }
    expect(await redis.get(keys.leader)).toBe(token);
    expect(candidate.isLeader).toBe(true);
  });

  it('steps down when its lease was taken: demoted at its next renewal, not leading, no token', async () => {
    const { keys, candidate } = await leading(300);
    const demoted = once(candidate, 'demoted') as Promise<[string]>;
    await redis.set(keys.leader, 'someone-else', 'PX', 60_000);
    expect((await demoted)[0]).toBe('lease taken by another scheduler');
    expect(candidate.isLeader).toBe(false);
    expect(candidate.token).toBeUndefined();
    expect(await redis.get(keys.leader)).toBe('someone-else');
  });

  it('steps down once its lease may have expired when Redis cannot be reached to renew it', async () => {
    const connection = connectTestRedis();
    connections.push(connection);
    const { candidate } = await leading(300, connection);
    const demoted = once(candidate, 'demoted') as Promise<[string]>;
    connection.disconnect();
    expect((await demoted)[0]).toBe('could not renew the lease in time');
    expect(candidate.isLeader).toBe(false);
  });

  it('on stop lets the lease go at once, so a standby need not wait for it to expire', async () => {
    const { keys, candidate } = await leading();
    const demoted = once(candidate, 'demoted') as Promise<[string]>;
    await candidate.stop();
    expect((await demoted)[0]).toBe('shutting down');
    expect(await redis.exists(keys.leader)).toBe(0);
    expect(candidate.isLeader).toBe(false);
  });

  it("on stop as a standby leaves another holder's lease alone, tells nobody it was demoted, and never campaigns again", async () => {
    const prefix = freshPrefix();
    const keys = drumlineKeys(prefix);
    await redis.set(keys.leader, 'someone-else', 'PX', 60_000);
    const candidate = election(prefix, 300);
    const events: string[] = [];
    candidate.on('elected', () => events.push('elected'));
    candidate.on('demoted', () => events.push('demoted'));
    candidate.start();
    await candidate.stop();
    expect(await redis.get(keys.leader)).toBe('someone-else');
    await redis.del(keys.leader);
    // A witness that tries only every second: a stopped election still campaigning (every 30 ms) would beat it to the free lease.
    const witness = election(prefix, 10_000);
    witness.start();
    await elected(witness);
    expect(events).toEqual([]);
    expect(await redis.get(keys.leader)).toBe(witness.token);
  });

  it('keeps leading through a renewal that fails while its lease is still valid', async () => {
    const lines: string[] = [];
    const watched = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const connection = connectTestRedis();
    connections.push(connection);
    const prefix = freshPrefix();
    const candidate = new LeaderElection(connection, prefix, { leaseTtlMs: 9_000, logger: watched });
    started.push(candidate);
    const demoted: string[] = [];
    candidate.on('demoted', (reason) => demoted.push(reason));
    candidate.start();
    await elected(candidate);
    // The next renewal, 3 s on, fails (Redis is unreachable), 6 s before the lease could have run out.
    connection.disconnect();
    await expect.poll(() => lines.some((line) => line.includes('leader election round failed')), { timeout: 30_000, interval: 50 }).toBe(true);
    expect(candidate.isLeader).toBe(true);
    expect(demoted).toEqual([]);
  }, 60_000);

  describe('writeHashFenced', () => {
    it('writes and deletes fields in chunks of 500 while leading, and answers true', async () => {
      const { prefix, candidate } = await leading();
      const hash = `${prefix}:drumline:fenced`;
      const stale = Array.from({ length: 1_200 }, (_, i) => `old-${i}`);
      await redis.hset(hash, Object.fromEntries(stale.map((field) => [field, 'x'])));
      const sets = Array.from({ length: 1_100 }, (_, i): [string, string] => [`new-${i}`, String(i)]);

      expect(await candidate.writeHashFenced(hash, sets, stale)).toBe(true);
      const stored = await redis.hgetall(hash);
      expect(Object.keys(stored)).toHaveLength(1_100);
      expect(stored['new-1099']).toBe('1099');
      expect(stored['old-1199']).toBeUndefined();
    });

    it('writes nothing and answers false when not leading', async () => {
      const prefix = freshPrefix();
      const hash = `${prefix}:drumline:fenced`;
      const candidate = election(prefix);
      expect(await candidate.writeHashFenced(hash, [['a', '1']])).toBe(false);
      expect(await redis.exists(hash)).toBe(0);
    });

    it('answers false and steps down when Redis refuses the write: someone else holds the lease', async () => {
      const { prefix, keys, candidate } = await leading();
      const hash = `${prefix}:drumline:fenced`;
      await redis.set(keys.leader, 'someone-else', 'PX', 60_000);
      const demoted = once(candidate, 'demoted') as Promise<[string]>;

      expect(await candidate.writeHashFenced(hash, [], ['a'])).toBe(false);
      expect((await demoted)[0]).toMatch(/another scheduler holds the lease/);
      expect(candidate.isLeader).toBe(false);
      expect(await candidate.writeHashFenced(hash, [['a', '1']])).toBe(false);
      expect(await redis.exists(hash)).toBe(0);
    });

    it('with nothing to write answers true without a round trip', async () => {
      const candidate = election(freshPrefix());
      expect(await candidate.writeHashFenced('unused', [])).toBe(true);
    });
  });

  it('lostLease demotes a leader once, and does nothing to a standby', async () => {
    const prefix = freshPrefix();
    const candidate = election(prefix);
    const reasons: string[] = [];
    candidate.on('demoted', (reason) => reasons.push(reason));
    candidate.lostLease('not leading yet');
    candidate.start();
    await elected(candidate);
    candidate.lostLease('told so');
    candidate.lostLease('told again');
    expect(reasons).toEqual(['told so']);
    expect(candidate.isLeader).toBe(false);
  });

  it('a leader whose connection comes back hands the lease over and leads again in a new term, from what Redis holds now', async () => {
    const connection = connectTestRedis();
    connections.push(connection);
    await connection.ping();
    const { keys, candidate } = await leading(LEASE_MS, connection);
    const firstToken = candidate.token;
    const demoted = once(candidate, 'demoted') as Promise<[string]>;
    const reElected = elected(candidate);
    connection.disconnect(true); // as a Redis failover or restart does: ioredis reconnects
    expect((await demoted)[0]).toMatch(/reconnected to Redis/);
    expect(await reElected).toBe(2);
    expect(candidate.token).not.toBe(firstToken);
    expect(await redis.get(keys.leader)).toBe(candidate.token);
  });

  it('a standby whose connection comes back stays a standby and says nothing', async () => {
    const connection = connectTestRedis();
    connections.push(connection);
    await connection.ping();
    const { prefix } = await leading();
    const standby = election(prefix, LEASE_MS, connection);
    const events: string[] = [];
    standby.on('demoted', () => events.push('demoted'));
    standby.start();
    connection.disconnect(true);
    await once(connection, 'ready');
    await connection.ping();
    expect(events).toEqual([]);
    expect(standby.isLeader).toBe(false);
  });
});

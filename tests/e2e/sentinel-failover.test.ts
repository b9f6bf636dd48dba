import { parseScheduledRunId } from '@drumline/core/runtime';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startApp, stopApps, type AppProcess } from '../support/processes.js';
import { ReplicatedRedis, SENTINEL_MASTER_NAME, type RedisNode } from '@drumline/test-redis';

// Redis failovers for real: a primary, a replica and three sentinels (redis-server processes on
// loopback), and the whole system on them through Sentinel: the web, two schedulers, three workers,
// a one-second schedule and a steady HTTP enqueue load. Runs are counted from the workers' logs
// (the `witness` job logs each run of its handler), which no failover can take back.
const SCHEDULE = 'every-second';
const LEASE_TTL_MS = 3000;

interface System {
  topology: ReplicatedRedis;
  url: string;
  token: string;
  web: AppProcess;
  schedulers: AppProcess[];
  workers: AppProcess[];
}

let running: System | undefined;

afterEach(async () => {
  if (!running) return;
  await stopApps([running.web, ...running.schedulers, ...running.workers], 5000);
  await running.topology.destroy();
  running = undefined;
});

async function startSystem(waitReplicas: number): Promise<System> {
  const topology = await ReplicatedRedis.start({ replicas: 1, sentinels: 3, downAfterMs: 1000 });
  const port = await freePort();
  const token = `test-${randomBytes(16).toString('hex')}`;
  const common = {
    REDIS_SENTINELS: topology.sentinelAddresses,
    REDIS_SENTINEL_NAME: SENTINEL_MASTER_NAME,
    KEY_PREFIX: 'sentinel',
    LOG_LEVEL: 'info',
    RELEASE: 'test',
    REDIS_WAIT_REPLICAS: String(waitReplicas),
    REDIS_WAIT_TIMEOUT_MS: '500',
  };
  const scheduling = { LEASE_TTL_MS: String(LEASE_TTL_MS), SCHEDULER_LOOKAHEAD_MS: '6000', SCHEDULER_POLL_MS: '200' };
  const workers = [1, 2, 3].map((n) => startApp('worker', { name: `worker-${n}`, env: { ...common, WORKER_CONCURRENCY: '5', WORKER_LOCK_MS: '3000', SHUTDOWN_GRACE_MS: '1000' } }));
  const schedulers = [1, 2].map((n) => startApp('scheduler', { name: `scheduler-${n}`, env: { ...common, ...scheduling } }));
  const web = startApp('web', {
    env: { ...common, PORT: String(port), HOST: '127.0.0.1', API_TOKEN: token, DASHBOARD_USER: 'test-admin', DASHBOARD_PASSWORD: 'test-password-long-enough' },
  });
  const system = { topology, url: `http://127.0.0.1:${port}`, token, web, schedulers, workers };
  running = system;
  await Promise.all(workers.map((worker) => worker.waitForLog((log) => log.msg === 'worker ready', 30_000)));
  await web.waitForHttp(`${system.url}/readyz`, 60_000);
  const response = await api(system, 'PUT', `/api/schedules/${SCHEDULE}`, { job: 'witness', every: '1s', misfire: 'all' });
  expect(response.status).toBe(201);
  return system;
}

function api(system: System, method: string, path: string, body?: object): Promise<Response> {
  return fetch(`${system.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${system.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(5000),
  });
}

/** How many times each run's handler ran, over every worker, from their logs. */
function witnessed(system: System): Map<string, number> {
  const counts = new Map<string, number>();
  for (const worker of system.workers) {
    for (const log of worker.logs()) if (typeof log.witnessed === 'string') counts.set(log.witnessed, (counts.get(log.witnessed) ?? 0) + 1);
  }
  return counts;
}

/** The schedule's ticks that ran, each with how many times. */
function tickRuns(system: System): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const [id, count] of witnessed(system)) {
    const run = parseScheduledRunId(id);
    if (run?.scheduleId === SCHEDULE && !run.manual) ticks.set(run.scheduledFor.getTime(), count);
  }
  return ticks;
}

/** POSTs a `witness` run with an id of its own every 25 ms until stopped; remembers which were acknowledged (202). */
function enqueueLoad(system: System) {
  const acknowledged: string[] = [];
  /** When each acknowledgement came, in order. */
  const acknowledgedAt: number[] = [];
  const refused = new Map<number | string, number>();
  let stopped = false;
  const loop = (async () => {
    for (let n = 0; !stopped; n += 1) {
      const jobId = `load-${n}`;
      try {
        const response = await api(system, 'POST', '/api/jobs/witness', { data: {}, opts: { jobId } });
        if (response.status === 202) {
          acknowledged.push(jobId);
          acknowledgedAt.push(Date.now());
        }
        else refused.set(response.status, (refused.get(response.status) ?? 0) + 1);
      } catch (error) {
        const reason = (error as Error).name;
        refused.set(reason, (refused.get(reason) ?? 0) + 1);
      }
      await sleep(25);
    }
  })();
  return {
    acknowledged,
    acknowledgedAt,
    refused,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

async function untilTicksRun(system: System, count: number, after: number, timeoutMs = 60_000): Promise<void> {
  await expect
    .poll(() => [...tickRuns(system).keys()].filter((tick) => tick > after).length, { timeout: timeoutMs, interval: 200 })
    .toBeGreaterThanOrEqual(count);
}

/** kill -9 of the primary; resolves once every sentinel names `next` the primary. */
async function failOverTo(system: System, next: RedisNode): Promise<void> {
  await system.topology.primary.kill();
  await expect.poll(() => system.topology.currentPrimary(), { timeout: 30_000, interval: 200 }).toBe(next);
}

/** Restarts the dead primary, empty, as a crashed pod comes back: the sentinels make it a replica of the new one. */
async function bringBackOldPrimary(system: System): Promise<void> {
  await system.topology.rejoin(system.topology.primary);
}

interface Outcome {
  ticks: number;
  twice: number[];
  never: number[];
  acknowledged: number;
  lost: string[];
  ranAgainAfterMs: number;
}

/** Stops the load, lets every acknowledged run finish, then counts ticks run once, twice, never, and acknowledged runs lost. */
async function settle(system: System, load: ReturnType<typeof enqueueLoad>, killedAt: number): Promise<Outcome> {
  await load.stop();
  const lastTick = Math.floor(Date.now() / 1000) * 1000 - 2000;
  const ran = () => witnessed(system);
  await expect.poll(() => load.acknowledged.filter((id) => !ran().has(id)).length, { timeout: 30_000, interval: 250 }).toBe(0).catch(() => undefined);
  await untilTicksRun(system, 1, lastTick).catch(() => undefined);
  const ticks = tickRuns(system);
  const firstTick = Math.min(...ticks.keys());
  const expected: number[] = [];
  for (let tick = firstTick; tick <= lastTick; tick += 1000) expected.push(tick);
  const afterKill = [...ticks.keys()].filter((tick) => tick > killedAt);
  const firstAfterKill = Math.min(...afterKill);
  const ranAgainAt = system.workers
    .flatMap((worker) => worker.logs())
    .filter((log) => typeof log.witnessed === 'string' && parseScheduledRunId(log.witnessed)?.scheduledFor.getTime() === firstAfterKill)
    .map((log) => Number(log.time))[0];
  return {
    ticks: expected.length,
    twice: expected.filter((tick) => (ticks.get(tick) ?? 0) > 1),
    never: expected.filter((tick) => !ticks.has(tick)),
    acknowledged: load.acknowledged.length,
    lost: load.acknowledged.filter((id) => !ran().has(id)),
    ranAgainAfterMs: (ranAgainAt ?? Number.NaN) - killedAt,
  };
}

function report(name: string, outcome: Outcome, refused: Map<number | string, number>): void {
  const { twice, never, lost, ...figures } = outcome;
  process.stdout.write(`${name}: ${JSON.stringify({ ...figures, twice: twice.length, never: never.length, lost: lost.length, refused: Object.fromEntries(refused) })}\n`);
}

describe('Redis Sentinel failover under load', () => {
  it('kill -9 of the primary: every app follows the promoted replica by itself; each tick runs once and no acknowledged run is lost', async () => {
    const system = await startSystem(1);
    const load = enqueueLoad(system);
    await untilTicksRun(system, 3, 0);
    const [replica] = system.topology.replicas as [RedisNode];
    const killedAt = Date.now();
    await failOverTo(system, replica);
    await bringBackOldPrimary(system);
    const recoveredAt = Date.now();
    await untilTicksRun(system, 3, recoveredAt);
    // The web follows the new primary by itself: enqueues are acknowledged again.
    await expect.poll(() => load.acknowledgedAt.filter((at) => at > recoveredAt).length, { timeout: 20_000, interval: 200 }).toBeGreaterThan(0);
    const outcome = await settle(system, load, killedAt);
    report('primary killed, REDIS_WAIT_REPLICAS=1', outcome, load.refused);
    expect(outcome.twice).toEqual([]);
    expect(outcome.never).toEqual([]);
    expect(outcome.lost).toEqual([]);
    expect(outcome.acknowledged).toBeGreaterThan(0);
    for (const app of [system.web, ...system.schedulers, ...system.workers]) expect(app.exitStatus).toBeUndefined();
  });

  // The replica is cut off for three ticks while the primary takes writes, then the primary dies and
  // the stale replica is promoted: what it never received is gone.
  async function staleReplicaPromoted(waitReplicas: number) {
    const system = await startSystem(waitReplicas);
    const load = enqueueLoad(system);
    await untilTicksRun(system, 3, 0);
    const [replica] = system.topology.replicas as [RedisNode];
    await system.topology.cutOff(replica);
    const stalledAt = Date.now();
    await expect.poll(() => Date.now() - stalledAt, { timeout: 10_000, interval: 250 }).toBeGreaterThan(3000);
    const killedAt = Date.now();
    await system.topology.primary.kill();
    replica.resume();
    await expect.poll(() => system.topology.currentPrimary(), { timeout: 30_000, interval: 200 }).toBe(replica);
    await bringBackOldPrimary(system);
    await untilTicksRun(system, 3, Date.now());
    return { system, outcome: await settle(system, load, killedAt), load };
  }

  it('a stale replica promoted, with REDIS_WAIT_REPLICAS=1: no tick ran on the writes it lost, so none runs twice, none is skipped, and no acknowledged run is lost', async () => {
    const { outcome, load } = await staleReplicaPromoted(1);
    report('stale replica promoted, REDIS_WAIT_REPLICAS=1', outcome, load.refused);
    expect(outcome.twice).toEqual([]);
    expect(outcome.never).toEqual([]);
    expect(outcome.lost).toEqual([]);
    // While the replica stalled, the web said so instead of acknowledging what could be lost.
    expect(load.refused.get(503) ?? 0).toBeGreaterThan(0);
  });

  it('the same failover without REDIS_WAIT_REPLICAS loses writes: ticks run twice or acknowledged runs are lost (what the setting closes)', async () => {
    const { outcome, load } = await staleReplicaPromoted(0);
    report('stale replica promoted, REDIS_WAIT_REPLICAS=0', outcome, load.refused);
    expect(outcome.twice.length + outcome.lost.length).toBeGreaterThan(0);
    expect(outcome.never).toEqual([]);
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { apiScheduleRecord, ScheduleStore } from '@drumline/core/runtime';
import { ReplicatedRedis, SENTINEL_MASTER_NAME, type RedisNode } from '@drumline/test-redis';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { markInitDone, pingOptions, registry, startBareWorker, startSchedulerApp, startWorkerApp, stopAll, waitForWorkers } from '../support/apps.js';
import type { NodeProcess } from '../support/node-process.js';
import type { RedisTarget } from '../support/redis-server.js';
import { bullmqTick, drumlineTick, RunCollector, type TickReport } from '../support/run-collector.js';
import { check, type BenchContext, type Measured, type Scenario } from '../support/scenario.js';
import { median, round } from '../support/stats.js';

const PREFIX = 'bench-sentinel';
const DOWN_AFTER_MS = 1000;
const FAILOVER_TIMEOUT_MS = 4000;
const LEASE_TTL_MS = 5000;
/** A sentinel deems the primary down, a failover may take its timeout, and a scheduler that lost its lease to the failover waits one lease. */
const TARGET_MS = DOWN_AFTER_MS + FAILOVER_TIMEOUT_MS + LEASE_TTL_MS;
const REPLICAS = 2;
const SENTINELS = 3;
const EVERY_MS = 1000;
const SCHEDULES = 10;
/** Ticks that have not run again this long after a kill are taken to never run again: the run broke. */
const RECOVERY_DEADLINE_MS = 60_000;
const ids = Array.from({ length: SCHEDULES }, (_, index) => `sentinel-${index}`);

/** Kills land at varying phases of a tick's second (617 ms apart, modulo the second), after a few steady ticks. */
const pauseBeforeKill = (rep: number) => 3000 + ((rep * 617) % EVERY_MS);

/** The topology, reached as the apps reach it: through the sentinels. */
interface SentinelRedis extends RedisTarget {
  readonly client: Redis;
  topology: ReplicatedRedis;
  /** When the first sentinel announced each failover it learned of (`+switch-master`). */
  switches: number[];
  close(): Promise<void>;
}

async function startSentinelRedis(): Promise<SentinelRedis> {
  const topology = await ReplicatedRedis.start({ replicas: REPLICAS, sentinels: SENTINELS, downAfterMs: DOWN_AFTER_MS, failoverTimeoutMs: FAILOVER_TIMEOUT_MS });
  // The bench's own client follows the primary the sentinels name, as the apps do, so it reads the
  // completed runs from whichever node is primary now.
  const client = new Redis({ sentinels: topology.sentinels.map((sentinel) => ({ host: '127.0.0.1', port: sentinel.port })), name: SENTINEL_MASTER_NAME, maxRetriesPerRequest: null });
  // Refused while the primary is down: its commands wait and are sent again once it reconnects.
  client.on('error', () => undefined);
  // Failovers are counted, not assumed one per kill: a sentinel that cannot reach a just-promoted
  // primary for down-after-milliseconds (a busy machine) deems it down and fails over again.
  const announcer = new Redis({ host: '127.0.0.1', port: (topology.sentinels[0] as RedisNode).port });
  const switches: number[] = [];
  announcer.on('message', () => switches.push(Date.now()));
  await announcer.subscribe('+switch-master');
  return {
    topology,
    client,
    switches,
    env: () => ({ REDIS_SENTINELS: topology.sentinelAddresses, REDIS_SENTINEL_NAME: SENTINEL_MASTER_NAME }),
    async close() {
      client.disconnect();
      announcer.disconnect();
      await topology.destroy();
    },
  };
}

/** Polls `probe` every 50 ms until it returns a value; fails the run with `what` at `deadline`. */
async function until<T>(probe: () => T | undefined | Promise<T | undefined>, deadline: number, what: string): Promise<T> {
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    check(Date.now() < deadline, what);
    await sleep(50);
  }
}

interface Kill {
  killed: RedisNode;
  promoted: RedisNode;
  killedAt: number;
  /** Until every sentinel named another node primary. */
  promotedAfterMs: number;
  /** The primary once the dead node was back: `promoted`, unless the sentinels failed over again. */
  settledOn: RedisNode;
}

/** One failover, as reported: nodes are named by the role they started in. */
interface FailoverFigures {
  killed: string;
  promoted: string;
  promotedAfterMs: number;
  /** After the kill (until the next), when the first sentinel announced each failover: more than one is a failover of the sentinels' own. */
  failoversAfterMs: number[];
  settledOn: string;
  /** Until the first run of a tick after the kill started (its handler's `at`). */
  ranAgainAfterMs: number;
  /** Ticks from the kill to the next kill (or the end) that ran twice, and that never ran. */
  twice: number;
  never: number;
}

// A type, not an interface: a figures object must fit Measured's Record<string, unknown>.
type SideFigures = {
  ranAgainMedianMs: number;
  ranAgainMs: number[];
  promotedAfterMs: number[];
  /** Failovers beyond one per kill, which the sentinels started on their own. */
  extraFailovers: number;
  failovers: FailoverFigures[];
  /** Every tick from 2 s before the first kill to 2 s after the last node rejoined. */
  ticks: TickReport;
};

/**
 * `repeats` times: kill -9 the primary the sentinels name, wait until they all name another, until a
 * tick after the kill has run, then restart the dead node and wait until the topology is whole
 * again (the sentinels agree on a primary and see both replicas up, in sync). The apps get no help:
 * the node comes back only after ticks ran again, so what is timed is a topology one replica short.
 */
async function killPrimaries(redis: SentinelRedis, collector: RunCollector, repeats: number, processes: NodeProcess[], log: (message: string) => void): Promise<Kill[]> {
  const { topology } = redis;
  const kills: Kill[] = [];
  for (let rep = 1; rep <= repeats; rep += 1) {
    await sleep(pauseBeforeKill(rep));
    const dead = processes.find((child) => !child.running);
    check(!dead, `${dead?.name} exited before kill ${rep}:\n${dead?.tail()}`);
    const killed = await topology.currentPrimary();
    check(killed !== undefined, `the sentinels did not agree on a primary before kill ${rep}`);
    const killedAt = Date.now();
    await killed.kill();
    const promoted = await until(
      async () => {
        const primary = await topology.currentPrimary();
        return primary && primary !== killed ? primary : undefined;
      },
      killedAt + 30_000,
      `the sentinels promoted no replica within 30 s of kill ${rep}`,
    );
    const promotedAfterMs = Date.now() - killedAt;
    const ranAgainAt = await until(() => collector.firstRunOfTickAfter(killedAt), killedAt + RECOVERY_DEADLINE_MS, `no tick after kill ${rep} ran within ${RECOVERY_DEADLINE_MS} ms of it`);
    const settledOn = await topology.rejoin(killed);
    kills.push({ killed, promoted, killedAt, promotedAfterMs, settledOn });
    const settled = settledOn === promoted ? '' : `; the sentinels failed over again on their own, to ${settledOn.role}`;
    log(`  kill ${rep}: ${killed.role} killed, ${promoted.role} promoted after ${promotedAfterMs} ms, ticks ran again after ${ranAgainAt - killedAt} ms; ${killed.role} back${settled}`);
  }
  return kills;
}

/** Collects the runs while the primaries are killed, then reads, per failover, when ticks ran again and which ran twice or never. */
async function measure(redis: SentinelRedis, collector: RunCollector, repeats: number, processes: NodeProcess[], log: (message: string) => void): Promise<SideFigures> {
  collector.start();
  let kills: Kill[];
  let end: number;
  try {
    const startedAt = Date.now();
    await until(() => collector.firstRunOfTickAfter(startedAt), startedAt + 15_000, 'no tick ran within 15 s of the start');
    kills = await killPrimaries(redis, collector, repeats, processes, log);
    end = Date.now() + 2000;
    // Ticks up to `end` have run (or never will) a couple of seconds after it.
    await sleep(end + 3000 - Date.now());
    const dead = processes.find((child) => !child.running);
    check(!dead, `${dead?.name} exited during the failovers:\n${dead?.tail()}`);
  } finally {
    await collector.stop();
  }
  const ticks = collector.report(ids, EVERY_MS, (kills[0]?.killedAt ?? end) - 2000, end);
  ticks.failed = await collector.failedCount();
  const failovers = kills.map(({ killed, promoted, killedAt, promotedAfterMs, settledOn }, index): FailoverFigures => {
    const to = kills[index + 1]?.killedAt ?? end;
    const window = collector.report(ids, EVERY_MS, killedAt, to);
    return {
      killed: killed.role,
      promoted: promoted.role,
      promotedAfterMs,
      failoversAfterMs: redis.switches.filter((at) => at >= killedAt && at < to).map((at) => at - killedAt),
      settledOn: settledOn.role,
      ranAgainAfterMs: (collector.firstRunOfTickAfter(killedAt) as number) - killedAt,
      twice: window.duplicates,
      never: window.missed,
    };
  });
  const ranAgainMs = failovers.map((failover) => failover.ranAgainAfterMs);
  return {
    ranAgainMedianMs: median(ranAgainMs),
    ranAgainMs,
    promotedAfterMs: failovers.map((failover) => failover.promotedAfterMs),
    extraFailovers: failovers.reduce((sum, failover) => sum + Math.max(0, failover.failoversAfterMs.length - 1), 0),
    failovers,
    ticks,
  };
}

async function drumlineRuns(context: BenchContext, repeats: number, waitReplicas: number): Promise<SideFigures> {
  context.log(`  Drumline, REDIS_WAIT_REPLICAS=${waitReplicas}`);
  const redis = await startSentinelRedis();
  const processes: NodeProcess[] = [];
  try {
    await markInitDone(redis.client, PREFIX);
    const store = new ScheduleStore(redis.client, PREFIX);
    // misfire `all`: every tick the outage delayed runs, so a tick that never runs was lost, not dropped by a policy.
    for (const id of ids) await store.putFromApi(apiScheduleRecord(registry, id, { job: 'ping', every: EVERY_MS, misfire: 'all' }));
    processes.push(startWorkerApp(redis, PREFIX, 10, 'drumline worker', 'default', { REDIS_WAIT_REPLICAS: String(waitReplicas) }));
    await waitForWorkers(redis, PREFIX, 'default', 1, 15_000, processes);
    const leader = startSchedulerApp(redis, PREFIX, 'scheduler 1', { LEASE_TTL_MS: String(LEASE_TTL_MS) });
    processes.push(leader);
    await leader.waitForMsg('materializing schedules', 30_000);
    const standby = startSchedulerApp(redis, PREFIX, 'scheduler 2', { LEASE_TTL_MS: String(LEASE_TTL_MS) });
    processes.push(standby);
    await standby.waitForMsg(/campaigning for the lead/, 15_000);
    return await measure(redis, new RunCollector(redis.client, `${PREFIX}:default`, drumlineTick), repeats, processes, context.log);
  } finally {
    await stopAll(processes);
    await redis.close();
  }
}

/** BullMQ job schedulers and a bare worker on the same topology, through the same sentinels, through the same kills. */
async function baselineRuns(context: BenchContext, repeats: number): Promise<SideFigures> {
  context.log('  BullMQ');
  const redis = await startSentinelRedis();
  const worker = startBareWorker(redis, PREFIX, 10);
  const queue = new Queue('default', { connection: redis.client, prefix: PREFIX });
  // BullMQ passes on its connection's errors, refused while the primary is down, and prints them when nobody listens.
  queue.on('error', () => undefined);
  try {
    await waitForWorkers(redis, PREFIX, 'default', 1, 15_000, [worker]);
    const startDate = Math.ceil((Date.now() + 1500) / 1000) * 1000;
    const { attempts, backoff, removeOnComplete, removeOnFail } = pingOptions;
    await Promise.all(ids.map((id) => queue.upsertJobScheduler(id, { every: EVERY_MS, startDate }, { name: 'ping', data: {}, opts: { attempts, backoff, removeOnComplete, removeOnFail } })));
    return await measure(redis, new RunCollector(redis.client, `${PREFIX}:default`, bullmqTick), repeats, [worker], context.log);
  } finally {
    await stopAll([worker]);
    await queue.close();
    await redis.close();
  }
}

function summary(figures: SideFigures): string {
  const { ticks } = figures;
  return (
    `ticks ran again ${round(figures.ranAgainMedianMs / 1000, 2)} s after the kill (median; ${figures.ranAgainMs.join(', ')} ms; promoted after ${figures.promotedAfterMs.join(', ')} ms); ` +
    `${ticks.duplicates} run twice, ${ticks.missed} never, of ${ticks.expected}` +
    (figures.extraFailovers > 0 ? `; the sentinels failed over ${figures.extraFailovers} more time(s) on their own` : '')
  );
}

export const sentinelFailover: Scenario = {
  name: 'sentinel-failover',
  target:
    `median time from kill -9 of the Redis primary to the first run of a later tick <= down-after-milliseconds + failover-timeout + lease TTL ` +
    `(${DOWN_AFTER_MS} + ${FAILOVER_TIMEOUT_MS} + ${LEASE_TTL_MS} = ${TARGET_MS} ms), with REDIS_WAIT_REPLICAS 0 and 1; no tick run twice with REDIS_WAIT_REPLICAS=1`,
  async run(context: BenchContext): Promise<Measured> {
    const repeats = context.quick ? 2 : 5;
    const wait0 = await drumlineRuns(context, repeats, 0);
    const wait1 = await drumlineRuns(context, repeats, 1);
    const baseline = await baselineRuns(context, repeats);
    const problems: string[] = [];
    for (const [waitReplicas, { ranAgainMedianMs, ticks }] of [[0, wait0], [1, wait1]] as const) {
      if (ranAgainMedianMs > TARGET_MS) problems.push(`with REDIS_WAIT_REPLICAS=${waitReplicas}, ticks ran again ${ranAgainMedianMs} ms after the kill (median) > ${TARGET_MS} ms`);
      if (ticks.failed > 0) problems.push(`with REDIS_WAIT_REPLICAS=${waitReplicas}, ${ticks.failed} run(s) failed`);
    }
    if (wait1.ticks.duplicates > 0) problems.push(`with REDIS_WAIT_REPLICAS=1, ${wait1.ticks.duplicates} tick(s) ran twice`);
    return {
      drumline: { targetMs: TARGET_MS, leaseTtlMs: LEASE_TTL_MS, waitReplicas0: wait0, waitReplicas1: wait1, ratioWithoutWait: round(baseline.ranAgainMedianMs / wait0.ranAgainMedianMs, 3) },
      baseline,
      ratio: round(baseline.ranAgainMedianMs / wait1.ranAgainMedianMs, 3),
      ratioOf:
        "BullMQ's median time until ticks ran again ÷ Drumline's with REDIS_WAIT_REPLICAS=1 (the setting the README recommends with two replicas; " +
        'the same ratio without it is `ratioWithoutWait`)',
      pass: problems.length === 0,
      ...(problems.length > 0 ? { missed: problems.join('; ') } : {}),
      summary: { drumline: `REDIS_WAIT_REPLICAS=0: ${summary(wait0)}; REDIS_WAIT_REPLICAS=1: ${summary(wait1)}`, baseline: summary(baseline) },
      method:
        `Real redis-server processes on loopback: a primary, ${REPLICAS} replicas and ${SENTINELS} sentinels (quorum ${Math.floor(SENTINELS / 2) + 1}, ` +
        `down-after-milliseconds ${DOWN_AFTER_MS}, failover-timeout ${FAILOVER_TIMEOUT_MS}), a fresh topology for each of the three runs. ` +
        `Drumline: ${SCHEDULES} api schedules of \`ping\` every ${EVERY_MS} ms with misfire \`all\`, apps/worker (concurrency 10) and two apps/scheduler ` +
        `(LEASE_TTL_MS=${LEASE_TTL_MS}), all through REDIS_SENTINELS and REDIS_SENTINEL_NAME; run once with REDIS_WAIT_REPLICAS=0 and once with 1 ` +
        `(with two replicas one is left after a failover, so WAIT keeps being answered). Baseline: the same ${SCHEDULES} schedules as BullMQ job ` +
        `schedulers (\`upsertJobScheduler\`, every ${EVERY_MS} ms) and a bare BullMQ worker (concurrency 10) on ioredis's Sentinel connection. ` +
        `${repeats} times per run, at a varying phase of the tick's second: kill -9 the primary the sentinels name; poll them every 50 ms until all ` +
        'name another (`promoted after`); wait until a run of a tick after the kill has started, its time being the `at` its handler returned ' +
        '(ticks ran again = that − the kill); only then restart the dead node and wait until the sentinels have made it a replica of the new ' +
        "primary, in sync, before the next kill. Failovers are counted from the first sentinel's `+switch-master` announcements: more than one " +
        'after a kill is one the sentinels started on their own (a sentinel that could not reach the just-promoted primary within ' +
        'down-after-milliseconds on this busy machine deems it down too), and the topology is then awaited whole on whichever primary they ' +
        'settle on. Runs are read from the completed set of whichever node is primary (a client through the ' +
        'sentinels, polled every 200 ms). A tick run twice is one job id completed at two different times, a tick never run one without a ' +
        'completed run, from 2 s before the first kill to 2 s after the last node rejoined (per failover: from its kill to the next). Read from ' +
        "Redis, a run whose completion the failover lost counts once or never, so these counts are a floor for twice and a ceiling for never; the e2e test counts from the workers' logs instead. " +
        "BullMQ's `every` schedulers skip by design the ticks an outage made them miss (the next job is put at the first slot after now), " +
        "so its `never` counts those; Drumline's misfire `all` runs them late.",
    };
  },
};

import { setTimeout as sleep } from 'node:timers/promises';
import { apiScheduleRecord, drumlineKeys, ScheduleStore, scheduledRunId, type Cursor } from '@drumline/core/runtime';
import { Queue } from 'bullmq';
import { markInitDone, pingOptions, registry, startBareWorker, startSchedulerApp, startWorkerApp, stopAll, waitForWorkers } from '../support/apps.js';
import type { NodeProcess } from '../support/node-process.js';
import type { RedisServer } from '../support/redis-server.js';
import { bullmqTick, drumlineTick, RunCollector, type TickReport } from '../support/run-collector.js';
import { check, type BenchContext, type Measured, type Scenario } from '../support/scenario.js';
import { median, percentile, round } from '../support/stats.js';

const PREFIX = 'bench-failover';
const LEASE_TTL_MS = 5000;
const EVERY_MS = 1000;
const SCHEDULES = 10;
const ids = Array.from({ length: SCHEDULES }, (_, index) => `failover-${index}`);

/** Waits between kills vary over a lease-renewal period (a third of the TTL), so kills land at every phase of it. */
const pauseBeforeKill = (rep: number) => 1500 + ((rep * 617) % Math.floor(LEASE_TTL_MS / 3));

async function cursorUpTo(redis: RedisServer, scheduleId: string): Promise<number> {
  const json = await redis.client.hget(drumlineKeys(PREFIX).cursors, scheduleId);
  check(json !== null, `schedule ${scheduleId} has no cursor: the leader never materialized it`);
  return (JSON.parse(json) as Cursor).upTo;
}

function startStandby(redis: RedisServer, name: string): NodeProcess {
  return startSchedulerApp(redis, PREFIX, name, { LEASE_TTL_MS: String(LEASE_TTL_MS) });
}

interface DrumlineFailover {
  takeoversMs: number[];
  ticks: TickReport;
  /** Ticks a dead leader had already added (after its kill, up to its cursor): no promoter timer is left for them. */
  orphanedTicks: { count: number; latenessP50Ms: number; latenessMaxMs: number };
  /** Every other tick of the window. */
  otherTicks: { count: number; latenessP50Ms: number; latenessMaxMs: number };
}

function latenessSummary(values: number[]) {
  return { count: values.length, latenessP50Ms: round(percentile(values, 50), 1), latenessMaxMs: round(Math.max(...values), 1) };
}

async function drumlineRuns(context: BenchContext, repeats: number): Promise<DrumlineFailover> {
  const { redis, log } = context;
  await redis.flush();
  await markInitDone(redis.client, PREFIX);
  const store = new ScheduleStore(redis.client, PREFIX);
  for (const id of ids) await store.putFromApi(apiScheduleRecord(registry, id, { job: 'ping', every: EVERY_MS }));
  const processes: NodeProcess[] = [startWorkerApp(redis, PREFIX, 10)];
  const collector = new RunCollector(redis.client, `${PREFIX}:default`, drumlineTick);
  try {
    await waitForWorkers(redis, PREFIX, 'default', 1, 15_000, processes);
    let leader = startStandby(redis, 'scheduler 1');
    processes.push(leader);
    await leader.waitForMsg('materializing schedules', 30_000);
    let standby = startStandby(redis, 'scheduler 2');
    processes.push(standby);
    await standby.waitForMsg(/campaigning for the lead/, 15_000);
    collector.start();
    const takeoversMs: number[] = [];
    const orphaned: [from: number, to: number][] = [];
    const firstKill = Date.now() + pauseBeforeKill(1);
    for (let rep = 1; rep <= repeats; rep += 1) {
      await sleep(pauseBeforeKill(rep));
      const before = await cursorUpTo(redis, ids[0] as string);
      const killedAt = Date.now();
      await leader.kill9();
      // The new leader's first pass adds the ticks after the old cursor and then advances it (a fenced write).
      const deadline = killedAt + LEASE_TTL_MS * 4;
      let after = before;
      while (after <= before) {
        check(Date.now() < deadline, `no scheduler materialized a tick within ${LEASE_TTL_MS * 4} ms of killing the leader:\n${standby.tail()}`);
        await sleep(10);
        after = await cursorUpTo(redis, ids[0] as string);
      }
      const takeoverMs = Date.now() - killedAt;
      const nextTick = Math.floor(before / EVERY_MS) * EVERY_MS + EVERY_MS;
      const nextRun = `${PREFIX}:default:${scheduledRunId(ids[0] as string, nextTick)}`;
      check((await redis.client.exists(nextRun)) === 1, `the cursor moved past ${nextTick} but run ${nextRun} does not exist`);
      await standby.waitForMsg('materializing schedules', 5000);
      takeoversMs.push(takeoverMs);
      orphaned.push([killedAt, before]);
      log(`  kill ${rep}: ${leader.name} killed, ${standby.name} materialized the next tick after ${takeoverMs} ms`);
      leader = standby;
      standby = startStandby(redis, `scheduler ${rep + 2}`);
      processes.push(standby);
      await standby.waitForMsg(/campaigning for the lead/, 15_000);
    }
    const lastTickWindow = Date.now();
    await sleep(2000);
    await collector.stop();
    const ticks = collector.report(ids, EVERY_MS, firstKill - 2000, lastTickWindow);
    ticks.failed = await collector.failedCount();
    const inWindow = (tick: number) => tick >= firstKill - 2000 && tick < lastTickWindow;
    const isOrphaned = (tick: number) => orphaned.some(([from, to]) => tick > from && tick <= to);
    return {
      takeoversMs,
      ticks,
      orphanedTicks: latenessSummary(collector.lateness((tick) => inWindow(tick) && isOrphaned(tick))),
      otherTicks: latenessSummary(collector.lateness((tick) => inWindow(tick) && !isOrphaned(tick))),
    };
  } finally {
    await stopAll(processes);
  }
}

/**
 * BullMQ's job schedulers have no leader: the next tick's job is added when a worker starts the
 * current one. The same failure is a kill -9 of one of two workers (alternating), restarted at once.
 */
async function baselineRuns(context: BenchContext, repeats: number): Promise<TickReport> {
  const { redis, log } = context;
  await redis.flush();
  const workers = [startBareWorker(redis, PREFIX, 10, 'bare worker 1'), startBareWorker(redis, PREFIX, 10, 'bare worker 2')];
  const all = [...workers];
  const queue = new Queue('default', { connection: redis.client, prefix: PREFIX });
  const collector = new RunCollector(redis.client, `${PREFIX}:default`, bullmqTick);
  try {
    await waitForWorkers(redis, PREFIX, 'default', 2, 15_000, workers);
    const startDate = Math.ceil((Date.now() + 1500) / 1000) * 1000;
    const { attempts, backoff, removeOnComplete, removeOnFail } = pingOptions;
    await Promise.all(ids.map((id) => queue.upsertJobScheduler(id, { every: EVERY_MS, startDate }, { name: 'ping', data: {}, opts: { attempts, backoff, removeOnComplete, removeOnFail } })));
    await sleep(startDate - Date.now() + 1000);
    collector.start();
    const firstKill = Date.now() + pauseBeforeKill(1);
    for (let rep = 1; rep <= repeats; rep += 1) {
      await sleep(pauseBeforeKill(rep));
      const slot = rep % 2;
      const victim = workers[slot] as NodeProcess;
      await victim.kill9();
      const replacement = startBareWorker(redis, PREFIX, 10, `bare worker ${rep + 2}`);
      workers[slot] = replacement;
      all.push(replacement);
      await waitForWorkers(redis, PREFIX, 'default', 2, 15_000, [replacement]);
      log(`  kill ${rep}: ${victim.name} killed and replaced`);
    }
    const lastTickWindow = Date.now();
    await sleep(3000);
    await collector.stop();
    const ticks = collector.report(ids, EVERY_MS, firstKill - 2000, lastTickWindow);
    ticks.failed = await collector.failedCount();
    return ticks;
  } finally {
    await stopAll(all);
    await queue.close();
  }
}

export const failover: Scenario = {
  name: 'failover',
  target: `median time from kill -9 of the leader to the next tick materialized by the new leader <= lease TTL + 1 s (${LEASE_TTL_MS + 1000} ms); no tick missed or doubled`,
  async run(context: BenchContext): Promise<Measured> {
    const repeats = context.quick ? 1 : 5;
    const drumline = await drumlineRuns(context, repeats);
    const baseline = await baselineRuns(context, repeats);
    const takeover = median(drumline.takeoversMs);
    const limit = LEASE_TTL_MS + 1000;
    const problems = [
      takeover > limit ? `median takeover ${takeover} ms > ${limit} ms` : '',
      drumline.ticks.missed > 0 ? `${drumline.ticks.missed} tick(s) missed through the failovers` : '',
      drumline.ticks.duplicates > 0 ? `${drumline.ticks.duplicates} tick(s) ran twice through the failovers` : '',
      drumline.ticks.failed > 0 ? `${drumline.ticks.failed} run(s) failed` : '',
    ].filter(Boolean);
    const ticks = (report: TickReport) =>
      `${report.ran}/${report.expected} ticks ran through the kills (${report.duplicates} dup), lateness p99 ${report.latenessP99Ms} / max ${report.latenessMaxMs} ms`;
    return {
      drumline: {
        takeoverMedianMs: takeover,
        takeoversMs: drumline.takeoversMs,
        leaseTtlMs: LEASE_TTL_MS,
        ticksThroughFailover: drumline.ticks,
        ticksAddedByTheDeadLeader: drumline.orphanedTicks,
        otherTicks: drumline.otherTicks,
      },
      baseline: { takeoverMedianMs: null, ticksThroughFailover: baseline },
      ratio: round(baseline.latenessP99Ms / Math.max(drumline.ticks.latenessP99Ms, 0.1), 3),
      ratioOf: "BullMQ's p99 lateness of the ticks around the kills ÷ Drumline's (the takeover time itself has no BullMQ counterpart)",
      pass: problems.length === 0,
      ...(problems.length > 0 ? { missed: problems.join('; ') } : {}),
      summary: {
        drumline:
          `takeover median ${takeover} ms (${drumline.takeoversMs.join(', ')}); ${ticks(drumline.ticks)}; ` +
          `ticks the dead leader had added ran p50 ${drumline.orphanedTicks.latenessP50Ms} ms late, others ${drumline.otherTicks.latenessP50Ms} ms`,
        baseline: `no leader to replace; ${ticks(baseline)}`,
      },
      method:
        `${SCHEDULES} api schedules every ${EVERY_MS} ms, apps/worker, and two apps/scheduler processes (LEASE_TTL_MS=${LEASE_TTL_MS}). ${repeats} times: ` +
        `kill -9 the leader at a varying phase of its lease renewal, poll Redis every 10 ms until the schedule's cursor moves past where the dead ` +
        `leader left it (the new leader writes it right after adding the next ticks), check that the next tick's job exists, then start a fresh standby. ` +
        `Every tick from 2 s before the first kill to the last takeover is checked to have run exactly once; the lateness of the ticks the dead ` +
        `leader had already added (after the kill, up to its cursor) is reported apart from the others. Baseline: BullMQ job schedulers ` +
        `(same ${SCHEDULES}, every ${EVERY_MS} ms) with two bare workers, one of which is killed -9 and replaced each time.`,
    };
  },
};

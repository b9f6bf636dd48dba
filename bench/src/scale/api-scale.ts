import { setTimeout as sleep } from 'node:timers/promises';
import { drumlineKeys, type Cursor } from '@drumline/core/runtime';
import autocannon from 'autocannon';
import { API_TOKEN, appEnv, markInitDone, startSchedulerApp, startWorkerApp, stopAll, waitForWorkers, waitHttpReady } from '../support/apps.js';
import { entries, NodeProcess } from '../support/node-process.js';
import { freePort, type RedisServer } from '../support/redis-server.js';
import { RunCollector, drumlineTick, type TickReport } from '../support/run-collector.js';
import { check } from '../support/scenario.js';
import { median, mib, round } from '../support/stats.js';
import { apiSchedule, SAMPLES } from './api-schedules.js';
import { ledgerMemory, type LedgerMemory } from './ledger-memory.js';

const PREFIX = 'bench-scale-api';
export const LEASE_TTL_MS = 5000;
const CONNECTIONS = 32;

export interface ApiScaleWindows {
  settleS: number;
  measureS: number;
  kills: number;
}

export interface ApiScaleFigures {
  schedules: number;
  /** PUT /api/schedules/:id × schedules through apps/web, CONNECTIONS at a time. */
  createMs: number;
  createPerSec: number;
  /** From the first PUT until the leader had written a cursor for every schedule. */
  appliedMs: number;
  webCpuS: number;
  leaderCpuSecondsPerMinute: number;
  leaderRssMiB: number;
  leaderPeakRssMiB: number;
  leadershipLosses: number;
  /** Drumline's own keys in Redis (MEMORY USAGE, all samples), per schedule, by key. */
  redisBytesPerSchedule: Record<string, number>;
  redisBytesPerScheduleTotal: number;
  /** The tick ledgers (issue #15): in this run, and a full one at the default retention. */
  tickLedger: LedgerMemory;
  /** Kill -9 of the leader → the standby advanced the cursor of a 1 s schedule. */
  takeoversMs: number[];
  takeoverMedianMs: number;
  /** The standby's "elected leader" → "reconciled schedules": reading the stored schedules for code's. */
  reconcilesMs: number[];
  /** The standby's "reconciled schedules" → "materializing schedules": init tasks (done already) and load. */
  loadsMs: number[];
  newLeaderPeakRssMiB: number[];
  ticks: Record<string, TickReport>;
}

async function createThroughApi(url: string, count: number): Promise<{ ms: number; ok: number; other: number }> {
  let next = 0;
  const started = performance.now();
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    amount: count,
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    requests: [
      {
        method: 'PUT',
        setupRequest: (request) => {
          const { id, body } = apiSchedule(next++);
          return { ...request, path: `/api/schedules/${id}`, body: JSON.stringify(body) };
        },
      },
    ],
  });
  return { ms: performance.now() - started, ok: result['2xx'], other: result.non2xx + result.errors + result.timeouts };
}

async function waitUntil(what: string, deadlineMs: number, done: () => Promise<boolean>, who: NodeProcess[]): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await done())) {
    const dead = who.find((child) => !child.running);
    check(dead === undefined, `${dead?.name} died while waiting for ${what}:\n${dead?.tail()}`);
    check(Date.now() < deadline, `${what} not within ${deadlineMs} ms`);
    await sleep(100);
  }
}

async function cursorUpTo(redis: RedisServer, scheduleId: string): Promise<number> {
  const json = await redis.client.hget(drumlineKeys(PREFIX).cursors, scheduleId);
  check(json !== null, `schedule ${scheduleId} has no cursor: the leader never materialized it`);
  return (JSON.parse(json) as Cursor).upTo;
}

async function redisBytesPerSchedule(redis: RedisServer, count: number): Promise<Record<string, number>> {
  const keys = drumlineKeys(PREFIX);
  const named: Record<string, string> = {
    schedules: keys.schedules,
    cursors: keys.cursors,
    lastRuns: keys.lastRuns,
    overdueBaseline: keys.overdueBaseline,
    scheduleDue: keys.scheduleDue,
    scheduleAhead: keys.scheduleAhead,
  };
  const figures: Record<string, number> = {};
  for (const [name, key] of Object.entries(named)) {
    const bytes = (await redis.client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) as number | null;
    figures[name] = round((bytes ?? 0) / count, 0);
  }
  return figures;
}

/**
 * `count` API schedules created through apps/web while apps/scheduler leads and apps/worker runs
 * them; then the leader's steady state, Redis's memory, `windows.kills` failovers to a standby, and
 * every tick of the sample schedules counted from the worker's completed runs.
 */
export async function measureApiScale(redis: RedisServer, count: number, windows: ApiScaleWindows, log: (message: string) => void): Promise<ApiScaleFigures> {
  await redis.flush();
  await markInitDone(redis.client, PREFIX);
  const keys = drumlineKeys(PREFIX);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const web = NodeProcess.start('drumline web', entries.web, appEnv(redis, PREFIX, { PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'bench', DASHBOARD_PASSWORD: 'bench-password-123' }));
  const worker = startWorkerApp(redis, PREFIX, 100);
  const schedulerEnv = { LEASE_TTL_MS: String(LEASE_TTL_MS) };
  let leader = startSchedulerApp(redis, PREFIX, 'scheduler 1', schedulerEnv);
  const processes: NodeProcess[] = [web, worker, leader];
  const collector = new RunCollector(redis.client, `${PREFIX}:default`, drumlineTick);
  try {
    await Promise.all([waitHttpReady(web, `${url}/readyz`), waitForWorkers(redis, PREFIX, 'default', 1, 15_000, [worker]), leader.waitForMsg('materializing schedules', 30_000)]);
    // The test jobs' own code schedules, which the leader reconciled before any PUT.
    const codeSchedules = await redis.client.hlen(keys.schedules);
    const webCpuBefore = web.cpuMs();
    const started = performance.now();
    const created = await createThroughApi(url, count);
    const webCpuS = (web.cpuMs() - webCpuBefore) / 1000;
    check(created.other === 0 && created.ok === count, `creating ${count} schedules: ${created.ok} answered 2xx, ${created.other} did not`);
    const stored = await redis.client.hlen(keys.schedules);
    check(stored === count + codeSchedules, `Redis holds ${stored} schedules, expected ${count} and ${codeSchedules} of code`);
    log(`  ${count}: created through the API in ${round(created.ms / 1000, 1)} s (${round((count / created.ms) * 1000, 0)}/s, web ${round(webCpuS, 1)} CPU s)`);
    await waitUntil('a cursor for every schedule', 300_000, async () => (await redis.client.hlen(keys.cursors)) === count + codeSchedules, processes);
    const appliedMs = performance.now() - started;
    log(`  ${count}: the leader had a cursor for every schedule ${round(appliedMs / 1000, 1)} s after the first PUT`);
    collector.start();
    const windowFrom = Date.now() + 2000;
    await sleep(windows.settleS * 1000);

    const cpuBefore = leader.cpuMs();
    const measureStarted = performance.now();
    await sleep(windows.measureS * 1000);
    const cpuMs = leader.cpuMs() - cpuBefore;
    const leaderCpuSecondsPerMinute = round((cpuMs / (performance.now() - measureStarted)) * 60, 2);
    check(leader.running, `the leader died:\n${leader.tail()}`);
    const [leaderRssMiB, leaderPeakRssMiB] = [mib(leader.rssBytes()), mib(leader.peakRssBytes())];
    const leadershipLosses = leader.lines.filter((line) => line.msg === 'no longer leader').length;
    const bytes = await redisBytesPerSchedule(redis, count);
    const tickLedger = await ledgerMemory(redis, PREFIX, count);
    bytes.tickLedgers = tickLedger.bytesPerScheduleInRun;
    const total = Object.values(bytes).reduce((sum, value) => sum + value, 0);
    log(`  ${count}: leader ${leaderCpuSecondsPerMinute} CPU s/min, RSS ${leaderRssMiB} MiB (peak ${leaderPeakRssMiB}); Redis ${total} B a schedule ${JSON.stringify(bytes)}`);
    log(`  ${count}: tick ledgers: ${tickLedger.ledgers} in this run; a full one ${tickLedger.bytesPerTick} B a tick: every minute ${tickLedger.perScheduleAtRetention.everyMinute} B, hourly ${tickLedger.perScheduleAtRetention.hourly} B, daily ${tickLedger.perScheduleAtRetention.daily} B`);

    const takeoversMs: number[] = [];
    const reconcilesMs: number[] = [];
    const loadsMs: number[] = [];
    const newLeaderPeakRssMiB: number[] = [];
    const probe = SAMPLES[0].ids[0] as string;
    for (let kill = 1; kill <= windows.kills; kill += 1) {
      const standby = startSchedulerApp(redis, PREFIX, `scheduler ${kill + 1}`, schedulerEnv);
      processes.push(standby);
      await standby.waitForMsg(/campaigning for the lead/, 15_000);
      await sleep(1500 + ((kill * 617) % 1600));
      const before = await cursorUpTo(redis, probe);
      const killedAt = Date.now();
      await leader.kill9();
      await waitUntil('a cursor advanced by the standby', LEASE_TTL_MS * 6, async () => (await cursorUpTo(redis, probe)) > before, [standby]);
      takeoversMs.push(Date.now() - killedAt);
      const elected = await standby.waitForMsg('elected leader', 5000);
      const reconciled = await standby.waitForMsg(/^reconciled schedules with code/, 30_000);
      const materializing = await standby.waitForMsg('materializing schedules', 30_000);
      reconcilesMs.push(Number(reconciled.time) - Number(elected.time));
      loadsMs.push(Number(materializing.time) - Number(reconciled.time));
      await sleep(3000);
      newLeaderPeakRssMiB.push(mib(standby.peakRssBytes()));
      log(`  ${count}: kill ${kill}: the standby advanced the cursor ${takeoversMs.at(-1)} ms after the kill (elected to reconciled ${reconcilesMs.at(-1)} ms, then loaded ${loadsMs.at(-1)} ms later)`);
      leader = standby;
    }
    const windowTo = Date.now() - 2000;
    // The slowest sample ticks once a minute: give the window's last ones time to run and be seen.
    await sleep(5000);
    await collector.stop();
    const ticks: Record<string, TickReport> = {};
    for (const group of SAMPLES) ticks[group.name] = { ...collector.report(group.ids, group.everyMs, windowFrom, windowTo), failed: await collector.failedCount() };
    log(`  ${count}: ticks ${Object.entries(ticks).map(([name, report]) => `${name}: ${report.ran}/${report.expected} ran, ${report.duplicates} twice, ${report.missed} missing`).join('; ')}`);
    return {
      schedules: count,
      createMs: round(created.ms, 0),
      createPerSec: round((count / created.ms) * 1000, 0),
      appliedMs: round(appliedMs, 0),
      webCpuS: round(webCpuS, 1),
      leaderCpuSecondsPerMinute,
      leaderRssMiB,
      leaderPeakRssMiB,
      leadershipLosses,
      redisBytesPerSchedule: bytes,
      redisBytesPerScheduleTotal: total,
      tickLedger,
      takeoversMs,
      takeoverMedianMs: median(takeoversMs),
      reconcilesMs,
      loadsMs,
      newLeaderPeakRssMiB,
      ticks,
    };
  } finally {
    await collector.stop().catch(() => undefined);
    await stopAll(processes);
  }
}

import { apiScheduleRecord, createJobRegistry, parseScheduledRunId, ScheduleStore } from '@drumline/core/runtime';
import { jobs } from '@drumline/test-jobs';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, stopApps, type AppProcess } from '../support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';

// Real processes as compose runs them: two schedulers (leader + hot standby) and two workers,
// a one-second schedule, and the leader killed (kill -9) or frozen (SIGSTOP) mid-run.
const LEASE_TTL_MS = 3000;

describe.each(['kill -9', 'SIGSTOP'] as const)('scheduler failover by %s of the leader', (how) => {
  const prefix = uniquePrefix(`failover-${how === 'kill -9' ? 'kill' : 'stop'}`);
  const redis = connectTestRedis();
  const queue = new Queue('default', { connection: redis, prefix });
  const events = new QueueEvents('default', { connection: { url: TEST_REDIS_URL }, prefix });
  const starts = new Map<string, number>();
  const apps: AppProcess[] = [];
  const env = {
    REDIS_URL: TEST_REDIS_URL,
    KEY_PREFIX: prefix,
    LOG_LEVEL: 'info',
    LEASE_TTL_MS: String(LEASE_TTL_MS),
    SCHEDULER_LOOKAHEAD_MS: '6000',
    SCHEDULER_POLL_MS: '200',
  };

  beforeAll(async () => {
    events.on('active', ({ jobId }) => starts.set(jobId, (starts.get(jobId) ?? 0) + 1));
    await events.waitUntilReady();
    const store = new ScheduleStore(redis, prefix);
    await store.putFromApi(apiScheduleRecord(createJobRegistry(jobs), 'every-second', { job: 'ping', every: '1s' }));
  });

  afterAll(async () => {
    for (const app of apps) if (app.exitStatus === undefined) app.child.kill('SIGCONT');
    await stopApps(apps);
    await events.close();
    await queue.close();
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  /** The ticks of `every-second` completed so far, each with how many completed runs it has. */
  async function completedTicks(): Promise<Map<number, number>> {
    const completed = new Map<number, number>();
    for (const job of await queue.getJobs(['completed'], 0, -1)) {
      const run = parseScheduledRunId(job.id);
      if (run && !run.manual) completed.set(run.scheduledFor.getTime(), (completed.get(run.scheduledFor.getTime()) ?? 0) + 1);
    }
    return completed;
  }
  /** Waits until every tick in [from, until] has completed, with a deadline far beyond the ticks' own time. */
  async function untilCompleted(from: number, until: number): Promise<number[]> {
    const expected: number[] = [];
    for (let tick = Math.ceil(from / 1000) * 1000; tick <= until; tick += 1000) expected.push(tick);
    await expect.poll(async () => {
      const completed = await completedTicks();
      return expected.filter((tick) => !completed.has(tick));
    }, { timeout: until - Date.now() + 30_000, interval: 250 }).toEqual([]);
    return expected;
  }

  // How fast the standby takes over is measured by `pnpm bench` (the README cites it); on a loaded
  // machine it is no test's pass or fail. What is checked here is the order of events and that
  // every tick before, through and after the failover runs exactly once.
  it('hands the lead to the standby only after the leader is gone, and runs every tick exactly once across the failover', async () => {
    const schedulers = [0, 1].map((i) => startApp('scheduler', { name: `scheduler-${i}`, env }));
    apps.push(...schedulers, ...[0, 1].map((i) => startApp('worker', { name: `worker-${i}`, env: { ...env, WORKER_LOCK_MS: '3000' } })));
    const leading = (app: AppProcess) => app.logs().some((log) => log.msg === 'materializing schedules');
    await Promise.any(schedulers.map((s) => s.waitForLog((log) => log.msg === 'materializing schedules', 30_000)));
    const leader = schedulers.find(leading)!;
    const standby = schedulers.find((s) => s !== leader)!;
    const from = Date.now() + 1000;

    // A few ticks run under the first leader before it goes.
    await untilCompleted(from, from + 3000);
    expect(leading(standby)).toBe(false);
    if (how === 'kill -9') await leader.kill();
    else leader.child.kill('SIGSTOP');
    const goneAt = Date.now();

    const took = await standby.waitForLog((log) => log.msg === 'materializing schedules', 60_000);
    expect(took.time as number).toBeGreaterThanOrEqual(goneAt - 50);
    if (how === 'SIGSTOP') {
      // The frozen leader wakes up with the lease gone: its writes are refused and it steps down.
      leader.child.kill('SIGCONT');
      await leader.waitForLog((log) => log.msg === 'no longer leader', 30_000);
    }
    // Ticks the new leader materialized itself, five seconds' worth, run too.
    const expected = await untilCompleted(from, Date.now() + 5000);

    const completed = await completedTicks();
    const startedTwice = [...starts].filter(([, count]) => count > 1).map(([id]) => id);
    expect(startedTwice).toEqual([]);
    for (const tick of expected) {
      expect(completed.get(tick)).toBe(1);
      expect(starts.get(`every-second@${tick}`)).toBe(1);
    }
  }, 180_000);
});

import { apiScheduleRecord, createJobRegistry, parseScheduledRunId, ScheduleStore } from '@drumline/core/runtime';
import { jobs } from '@drumline/jobs';
import { Queue, QueueEvents } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
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

  it('runs every tick exactly once across the failover', async () => {
    const schedulers = [0, 1].map((i) => startApp('scheduler', { name: `scheduler-${i}`, env }));
    apps.push(...schedulers, ...[0, 1].map((i) => startApp('worker', { name: `worker-${i}`, env: { ...env, WORKER_LOCK_MS: '3000' } })));
    const leading = (app: AppProcess) => app.logs().some((log) => log.msg === 'materializing schedules');
    await Promise.any(schedulers.map((s) => s.waitForLog((log) => log.msg === 'materializing schedules', 20_000)));
    const leader = schedulers.find(leading)!;
    const standby = schedulers.find((s) => s !== leader)!;
    const from = Date.now() + 1000;

    await sleep(10_000);
    if (how === 'kill -9') await leader.kill();
    else leader.child.kill('SIGSTOP');
    await standby.waitForLog((log) => log.msg === 'materializing schedules', LEASE_TTL_MS * 3);
    if (how === 'SIGSTOP') {
      await sleep(2000);
      leader.child.kill('SIGCONT');
      await leader.waitForLog((log) => log.msg === 'no longer leader', 10_000);
    }
    await sleep(how === 'kill -9' ? 18_000 : 8000);
    const until = Date.now() - 2000;

    const expected: number[] = [];
    for (let tick = Math.ceil(from / 1000) * 1000; tick <= until; tick += 1000) expected.push(tick);
    const deadline = Date.now() + 20_000;
    let completed = new Map<number, number>();
    while (Date.now() < deadline) {
      const jobsDone = await queue.getJobs(['completed'], 0, -1);
      completed = new Map();
      for (const job of jobsDone) {
        const run = parseScheduledRunId(job.id);
        if (run && !run.manual) completed.set(run.scheduledFor.getTime(), (completed.get(run.scheduledFor.getTime()) ?? 0) + 1);
      }
      if (expected.every((tick) => completed.has(tick))) break;
      await sleep(250);
    }

    const missing = expected.filter((tick) => !completed.has(tick));
    const startedTwice = [...starts].filter(([, count]) => count > 1).map(([id]) => id);
    expect(expected.length).toBeGreaterThanOrEqual(how === 'kill -9' ? 25 : 15);
    expect(missing).toEqual([]);
    expect(startedTwice).toEqual([]);
    for (const tick of expected) expect(starts.get(`every-second@${tick}`)).toBe(1);
  }, 120_000);
});

import { apiScheduleRecord, createJobRegistry, scheduleFingerprint, ScheduleStore, type Alert, type Cursor } from '@drumline/core/runtime';
import { jobs } from '@drumline/test-jobs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample, scrape } from '../../../tests/support/metrics.js';
import { freePort, startApp, stopApps, type AppProcess } from '../../../tests/support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../../../tests/support/redis.js';
import { WebhookReceiver } from '../../../tests/support/webhook-receiver.js';

// Two built scheduler processes (leader and standby) with their metrics ports and a local webhook
// receiver. No worker runs: every tick stays unstarted, which is what the dead-man's switch is for.
const METRICS_TOKEN = 'metrics-token-0123456789';
const prefix = uniquePrefix('scheduler-observe');
const redis = connectTestRedis();
const registry = createJobRegistry(jobs);
const store = new ScheduleStore(redis, prefix);
const apps: AppProcess[] = [];
let receiver: WebhookReceiver<Alert>;

interface Scheduler {
  app: AppProcess;
  metricsUrl: string;
}

async function startScheduler(name: string): Promise<Scheduler> {
  const port = await freePort();
  const app = startApp('scheduler', {
    name,
    env: {
      REDIS_URL: TEST_REDIS_URL,
      KEY_PREFIX: prefix,
      LEASE_TTL_MS: '1000',
      SCHEDULER_LOOKAHEAD_MS: '3000',
      SCHEDULER_POLL_MS: '100',
      SCHEDULE_OVERDUE_MS: '1500',
      METRICS_PORT: String(port),
      METRICS_HOST: '127.0.0.1',
      METRICS_TOKEN,
      ALERT_WEBHOOK_URL: receiver.url,
      PUBLIC_URL: 'http://jobs.example.com',
    },
  });
  apps.push(app);
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  await app.waitForHttp(metricsUrl, 15_000, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  return { app, metricsUrl };
}

const isLeader = async (scheduler: Scheduler) => sample(await scrape(scheduler.metricsUrl, METRICS_TOKEN), 'drumline_scheduler_is_leader');
/** The probe a kubelet sends: no token. */
const readyz = async (scheduler: Scheduler) => {
  const response = await fetch(scheduler.metricsUrl.replace(/\/metrics$/, '/readyz'));
  return { code: response.status, body: (await response.json()) as unknown };
};

beforeAll(async () => {
  receiver = await WebhookReceiver.start<Alert>();
  // This release's init tasks count as done, so the leader goes straight to the schedules.
  await redis.hset(store.keys.initDone, 'unreleased', String(Date.now()));
  await store.putFromApi(apiScheduleRecord(registry, 'unattended', { job: 'ping', every: '1s' }));
  // A schedule the scheduler last materialized a minute ago, whose policy drops what it missed.
  const dropping = apiScheduleRecord(registry, 'dropping', { job: 'ping', every: '10s', misfire: 'skip' });
  await store.putFromApi(dropping);
  const cursor: Cursor = { upTo: Date.now() - 60_000, job: 'ping', fingerprint: scheduleFingerprint(dropping), timing: dropping.timing, paused: false };
  await redis.hset(store.keys.cursors, 'dropping', JSON.stringify(cursor));
});

afterAll(async () => {
  await stopApps(apps);
  await receiver?.close();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

describe('the scheduler processes, observed', () => {
  it('serve metrics only with METRICS_TOKEN and /readyz to anyone, 200 on leader and standby alike; the leader gauge, the leader-change counter and /readyz\'s `leader` follow a failover', async () => {
    const first = await startScheduler('scheduler-0');
    expect((await fetch(first.metricsUrl)).status).toBe(401);
    await expect.poll(() => isLeader(first), { timeout: 15_000 }).toBe(1);
    const second = await startScheduler('scheduler-1');
    expect(await isLeader(second)).toBe(0);
    // Both are ready, the standby too (it is the failover); the body tells which one leads.
    expect(await readyz(first)).toEqual({ code: 200, body: { status: 'ok', leader: true } });
    expect(await readyz(second)).toEqual({ code: 200, body: { status: 'ok', leader: false } });

    const body = await scrape(first.metricsUrl, METRICS_TOKEN);
    expect(sample(body, 'drumline_scheduler_leader_changes_total')).toBe(1);
    expect(sample(body, 'process_cpu_seconds_total', { app: 'scheduler' })).toBeGreaterThan(0);

    // The misfire policy dropped the ticks of the minute nobody materialized: counted and alerted.
    await expect.poll(async () => sample(await scrape(first.metricsUrl, METRICS_TOKEN), 'drumline_ticks_missed_total', { schedule: 'dropping' }), { timeout: 10_000 }).toBeGreaterThanOrEqual(5);
    await expect.poll(() => receiver.received.filter((alert) => alert.kind === 'ticks-missed' && alert.schedule === 'dropping').length, { timeout: 10_000 }).toBe(1);

    // No worker runs the ticks of `unattended`: the dead-man's switch trips, once, with a link to the run it waits for.
    await expect.poll(() => receiver.received.filter((alert) => alert.kind === 'schedule-overdue' && alert.schedule === 'unattended').length, { timeout: 10_000 }).toBe(1);
    const overdue = receiver.received.find((alert) => alert.kind === 'schedule-overdue' && alert.schedule === 'unattended');
    expect(overdue).toMatchObject({ job: 'ping', runId: expect.stringMatching(/^unattended@\d+$/) });
    expect(overdue?.link).toBe(`http://jobs.example.com/admin/queues/queue/default/${encodeURIComponent(overdue?.runId ?? '')}`);
    expect((await store.overdue()).get('unattended')?.tick).toBe(Date.parse(overdue?.tick ?? ''));

    expect(await first.app.stop()).toEqual({ code: 0, signal: null });
    await expect.poll(() => isLeader(second), { timeout: 10_000 }).toBe(1);
    expect(await readyz(second)).toEqual({ code: 200, body: { status: 'ok', leader: true } });
    expect(sample(await scrape(second.metricsUrl, METRICS_TOKEN), 'drumline_scheduler_leader_changes_total')).toBe(1);
    // The new leader finds the same outage already alerted: no second page.
    await second.app.waitForLog((log) => log.msg === 'materializing schedules');
    expect((await store.overdue()).get('unattended')?.tick).toBe(Date.parse(overdue?.tick ?? ''));
    expect(receiver.received.filter((alert) => alert.kind === 'schedule-overdue' && alert.schedule === 'unattended')).toHaveLength(1);

    // Once each, after both leaders have flushed their alerts on the way out.
    expect(await second.app.stop()).toEqual({ code: 0, signal: null });
    expect(receiver.received.filter((alert) => alert.kind === 'schedule-overdue' && alert.schedule === 'unattended')).toHaveLength(1);
    expect(receiver.received.filter((alert) => alert.kind === 'ticks-missed' && alert.schedule === 'dropping')).toHaveLength(1);
  });
});

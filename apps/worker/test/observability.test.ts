import { apiScheduleRecord, closeRedis, createJobRegistry, QueueSet, scheduledRunId, ScheduleStore, type Alert } from '@drumline/core/runtime';
import { jobs } from '@drumline/test-jobs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample, scrape } from '../../../tests/support/metrics.js';
import { freePort, startApp, stopApps, type AppProcess } from '../../../tests/support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../../../tests/support/redis.js';
import { deadWebhookUrl, WebhookReceiver } from '../../../tests/support/webhook-receiver.js';

// The built worker process: its metrics port, and alerts to a local webhook receiver.
const METRICS_TOKEN = 'metrics-token-0123456789';
const prefix = uniquePrefix('worker-observe');
const redis = connectTestRedis();
const registry = createJobRegistry(jobs);
const queues = new QueueSet(registry, redis, prefix);
const apps: AppProcess[] = [];
let receiver: WebhookReceiver<Alert>;

beforeAll(async () => {
  receiver = await WebhookReceiver.start<Alert>();
});

afterAll(async () => {
  await stopApps(apps);
  await receiver?.close();
  await queues.close();
  await deleteKeys(redis, prefix);
  await closeRedis(redis);
});

async function startWorker(env: Record<string, string>): Promise<{ worker: AppProcess; metricsUrl: string }> {
  const port = await freePort();
  const worker = startApp('worker', {
    env: { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, METRICS_PORT: String(port), METRICS_HOST: '127.0.0.1', METRICS_TOKEN, ...env },
  });
  apps.push(worker);
  await worker.waitForLog((log) => log.msg === 'worker ready');
  return { worker, metricsUrl: `http://127.0.0.1:${port}/metrics` };
}

describe('the worker process, observed', () => {
  it('counts runs by outcome on its metrics port, behind METRICS_TOKEN (its probes open), and alerts once when a run fails for good', async () => {
    const { worker, metricsUrl } = await startWorker({ ALERT_WEBHOOK_URL: receiver.url, PUBLIC_URL: 'http://jobs.example.com' });
    expect((await fetch(metricsUrl)).status).toBe(401);
    // The probes need no token: a kubelet sends none.
    const probe = async (path: string) => (await fetch(metricsUrl.replace(/\/metrics$/, path))).json();
    expect(await probe('/healthz')).toEqual({ status: 'ok' });
    expect(await probe('/readyz')).toEqual({ status: 'ok' });

    // A tick two hours late, of a schedule whose misfire policy drops late ticks, as after a worker outage.
    await new ScheduleStore(redis, prefix).putFromApi(apiScheduleRecord(registry, 'hourly-ping', { job: 'ping', every: '1h', misfire: 'skip' }));
    const lateTick = (Math.floor(Date.now() / 3_600_000) - 2) * 3_600_000;
    const late = await queues.enqueue('ping', {}, { jobId: scheduledRunId('hourly-ping', lateTick) });
    await expect.poll(() => late.getState(), { timeout: 10_000 }).toBe('completed');

    const done = await Promise.all([1, 2, 3].map((n) => queues.enqueue('ping', { note: `ok ${n}` })));
    const doomed = await queues.enqueue('ping', { failWith: 'the printer is on fire' });
    await expect.poll(async () => (await queues.findRun('ping', doomed.id ?? ''))?.getState(), { timeout: 20_000 }).toBe('failed');
    for (const job of done) await expect.poll(() => job.getState(), { timeout: 10_000 }).toBe('completed');

    const body = await scrape(metricsUrl, METRICS_TOKEN);
    expect(sample(body, 'drumline_runs_total', { job: 'ping', outcome: 'completed' })).toBe(3);
    // ping has 3 attempts: two that will be retried, then the final failure.
    expect(sample(body, 'drumline_runs_total', { job: 'ping', outcome: 'retried' })).toBe(2);
    expect(sample(body, 'drumline_runs_total', { job: 'ping', outcome: 'failed' })).toBe(1);
    expect(sample(body, 'drumline_runs_total', { job: 'ping', outcome: 'skipped' })).toBe(1);
    expect(sample(body, 'drumline_ticks_missed_total', { schedule: 'hourly-ping' })).toBe(1);
    expect(sample(body, 'drumline_run_duration_seconds_count', { job: 'ping' })).toBe(6);
    expect(sample(body, 'process_resident_memory_bytes', { app: 'worker' })).toBeGreaterThan(0);

    await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(1);
    expect(receiver.received[0]).toMatchObject({
      kind: 'run-failed',
      job: 'ping',
      runId: doomed.id,
      schedule: null,
      reason: 'the printer is on fire',
      attempts: 3,
      link: `http://jobs.example.com/admin/queues/queue/default/${doomed.id}`,
    });
    const failedLog = worker.logs().find((log) => log.msg === 'run failed' && log.runId === doomed.id && log.attempt === 3);
    expect(failedLog).toMatchObject({ job: 'ping', willRetry: false });

    expect(await worker.stop()).toEqual({ code: 0, signal: null });
    // Once: the worker flushes its alerts before it exits, so a second one would be here by now.
    expect(receiver.received).toHaveLength(1);
  });

  it('completes and fails runs as usual when the alert webhook is down', async () => {
    const { worker, metricsUrl } = await startWorker({ ALERT_WEBHOOK_URL: await deadWebhookUrl() });
    const ok = await queues.enqueue('ping', { note: 'still fine' });
    const doomed = await queues.enqueue('ping', { failWith: 'nobody hears this' });
    await expect.poll(async () => (await queues.findRun('ping', doomed.id ?? ''))?.getState(), { timeout: 20_000 }).toBe('failed');
    await expect.poll(() => ok.getState(), { timeout: 10_000 }).toBe('completed');
    const after = await queues.enqueue('ping', { note: 'and after the failure' });
    await expect.poll(() => after.getState(), { timeout: 10_000 }).toBe('completed');

    await expect.poll(async () => sample(await scrape(metricsUrl, METRICS_TOKEN), 'drumline_alerts_total', { kind: 'run-failed', result: 'failed' }), { timeout: 15_000 }).toBe(1);
    // The counter and the log line are written together, but the line reaches stdout on its own time.
    await expect.poll(() => worker.logs().some((log) => log.msg === 'alert webhook failed; the alert is lost'), { timeout: 5000 }).toBe(true);
    expect(await worker.stop()).toEqual({ code: 0, signal: null });
  });
});

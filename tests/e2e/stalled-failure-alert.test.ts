import { closeRedis, createJobRegistry, drumlineKeys, QueueSet, type Alert } from '@drumline/core/runtime';
import { jobs } from '@drumline/test-jobs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample, scrape } from '../support/metrics.js';
import { freePort, startApp, stopApps, type AppProcess } from '../support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

// A run that takes its worker down with it, twice: BullMQ's stalled check fails it inside Redis,
// where no worker sees it end. The leading scheduler is the one that must tell someone.
const METRICS_TOKEN = 'metrics-token-0123456789';
const prefix = uniquePrefix('stalled-alert');
const redis = connectTestRedis();
const queues = new QueueSet(createJobRegistry(jobs), redis, prefix);
const apps: AppProcess[] = [];
let receiver: WebhookReceiver<Alert>;
const env = () => ({ REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, ALERT_WEBHOOK_URL: receiver.url, PUBLIC_URL: 'http://jobs.example.com' });

function startWorker(name: string): AppProcess {
  // The shortest lock, so a dead worker's run is found stalled within a couple of seconds.
  const worker = startApp('worker', { name, env: { ...env(), WORKER_QUEUES: 'default', WORKER_LOCK_MS: '1000' } });
  apps.push(worker);
  return worker;
}

beforeAll(async () => {
  receiver = await WebhookReceiver.start<Alert>();
  await redis.hset(drumlineKeys(prefix).initDone, 'unreleased', String(Date.now()));
});

afterAll(async () => {
  await stopApps(apps);
  await receiver?.close();
  await queues.close();
  await deleteKeys(redis, prefix);
  await closeRedis(redis);
});

describe('a run whose worker dies mid-run too often', () => {
  it('is failed by BullMQ, then counted and alerted by the leading scheduler, once', async () => {
    const metricsPort = await freePort();
    const scheduler = startApp('scheduler', { env: { ...env(), METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1', METRICS_TOKEN } });
    apps.push(scheduler);
    await scheduler.waitForLog((log) => log.msg === 'materializing schedules', 20_000);

    const job = await queues.enqueue('ping', { sleepMs: 600_000, note: 'takes its worker down' });
    for (const name of ['worker-0', 'worker-1']) {
      const worker = startWorker(name);
      await expect.poll(async () => (await queues.findRun('ping', job.id ?? ''))?.processedBy, { timeout: 15_000 }).toMatch(new RegExp(`:${worker.pid}$`));
      await expect.poll(() => job.getState(), { timeout: 15_000 }).toBe('active');
      await worker.kill();
    }
    startWorker('worker-2'); // its stalled check finds the run stalled a second time and fails it

    await expect.poll(() => job.getState(), { timeout: 20_000 }).toBe('failed');
    await expect.poll(() => receiver.received.filter((alert) => alert.runId === job.id).length, { timeout: 10_000 }).toBe(1);
    const alert = receiver.received.find((sent) => sent.runId === job.id);
    // BullMQ's count of starts (attemptsStarted): at least the two workers that died running it.
    expect(alert?.attempts).toBeGreaterThanOrEqual(2);
    expect(alert).toMatchObject({
      kind: 'run-failed',
      job: 'ping',
      schedule: null,
      reason: expect.stringContaining('job stalled more than allowable limit'),
      link: `http://jobs.example.com/admin/queues/queue/default/${job.id}`,
    });
    const body = await scrape(`http://127.0.0.1:${metricsPort}/metrics`, METRICS_TOKEN);
    expect(sample(body, 'drumline_runs_total', { job: 'ping', outcome: 'failed', app: 'scheduler' })).toBe(1);

    // Once: the scheduler flushes its alerts before it exits, so a second one would be here by now.
    await stopApps(apps);
    expect(receiver.received.filter((sent) => sent.runId === job.id)).toHaveLength(1);
  });
});

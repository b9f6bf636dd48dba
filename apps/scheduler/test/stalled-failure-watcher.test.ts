import { AlertWebhook, createJobRegistry, createLogger, createMetricsRegistry, createRunsCounter, QueueSet, scheduledRunId, ScheduleStore, summarizeTick, TickLedger, type Alert } from '@drumline/core/runtime';
import { Worker, type Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OwnRedisServer } from '../../../tests/support/redis-server.js';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { WebhookReceiver } from '../../../tests/support/webhook-receiver.js';
import { StalledFailureWatcher } from '../src/stalled-failure-watcher.js';
import { tick } from './scheduler-harness.js';

// The leader's listener for runs BullMQ's stalled check fails, on the real queue event stream.
const redis = connectTestRedis();
const prefix = uniquePrefix('scheduler-stalled');
const logger = createLogger({ app: 'stalled-test', level: 'silent' });
const registry = createJobRegistry([tick]);
const queues = new QueueSet(registry, redis, prefix);
const queue = queues.queueOf(tick);
const store = new ScheduleStore(redis, prefix);
const ledger = new TickLedger(redis, prefix);
let receiver: WebhookReceiver<Alert>;
let alerts: AlertWebhook;
const watchers: StalledFailureWatcher[] = [];

beforeAll(async () => {
  receiver = await WebhookReceiver.start<Alert>();
  alerts = new AlertWebhook({ url: receiver.url, publicUrl: 'http://jobs.example.com', logger });
});

afterAll(async () => {
  await Promise.all(watchers.map((watcher) => watcher.stop()));
  await receiver?.close();
  await queues.close();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

async function watching(options: { counted?: boolean } = {}) {
  const metricsRegistry = createMetricsRegistry('scheduler');
  const runs = options.counted === false ? undefined : createRunsCounter(metricsRegistry);
  const watcher = new StalledFailureWatcher({ redis, queues, store, alerts, logger, runs, ledger });
  watchers.push(watcher);
  await watcher.start();
  return { watcher, metrics: () => metricsRegistry.metrics() };
}

/**
 * Fails `id` as BullMQ's stalled check does (moveStalledJobsToWait-9.lua): the run, taken by a
 * worker that then died, is moved to failed with the check's reason and a `failed` event on the
 * queue's stream. The e2e test (tests/e2e/stalled-failure-alert.test.ts) gets there by killing
 * real workers; here the script's writes are made directly, so the test needs no dead processes.
 */
async function stallToFailure(id: string, on: { queue: Queue; connection: Redis } = { queue, connection: connectTestRedis() }): Promise<void> {
  const worker = new Worker(on.queue.name, null, { connection: on.connection, prefix, autorun: false });
  const taken = await worker.getNextJob('dead-worker');
  expect(taken?.id).toBe(id);
  await taken?.moveToFailed(new Error(STALLED_REASON), 'dead-worker', false);
  await worker.close(true);
}
/** What the stalled check answers, and BullMQ's `failed` event carries: taken as is from a real run in the e2e test. */
const STALLED_REASON = 'job stalled more than allowable limit';

describe('StalledFailureWatcher', () => {
  it("tells the tick's ledger that its run failed for good, so the tick does not stay pending", async () => {
    await watching();
    const tick = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    const runId = scheduledRunId('stalled-ledger', tick);
    await ledger.append([{ scheduleId: 'stalled-ledger', tick, event: { kind: 'started', at: tick + 5, attempt: 1, worker: 'dead-worker:1' } }]);
    await queue.add('tick', {}, { jobId: runId });
    await stallToFailure(runId);
    await expect.poll(async () => (await ledger.readTick('stalled-ledger', tick))?.events.map((event) => event.kind), { timeout: 10_000 }).toEqual(['started', 'failed']);
    const entry = await ledger.readTick('stalled-ledger', tick);
    expect(summarizeTick(entry!)).toMatchObject({ state: 'failed', reason: expect.stringMatching(/^job stalled more than allowable limit/) });
    expect(entry?.events[1]).toMatchObject({ worker: 'dead-worker:1', attempt: 1 });
  });

  it('alerts once, counts the run failed, and ignores a run that failed for another reason', async () => {
    const { metrics } = await watching();
    // Another failure first: it reaches the watcher before the stalled one, and is not alerted.
    const other = await queue.add('tick', {}, { jobId: 'failed-otherwise' });
    const otherWorker = new Worker(queue.name, null, { connection: connectTestRedis(), prefix, autorun: false });
    await (await otherWorker.getNextJob('token'))?.moveToFailed(new Error('the handler threw'), 'token');
    await otherWorker.close(true);
    expect(await other.getState()).toBe('failed');

    const runId = scheduledRunId('nightly', Date.UTC(2026, 0, 1));
    await queue.add('tick', {}, { jobId: runId });
    await stallToFailure(runId);

    await expect.poll(() => receiver.received.filter((alert) => alert.runId === runId), { timeout: 10_000 }).toHaveLength(1);
    expect(receiver.received.find((alert) => alert.runId === runId)).toMatchObject({
      kind: 'run-failed',
      job: 'tick',
      schedule: 'nightly',
      tick: '2026-01-01T00:00:00.000Z',
      reason: expect.stringMatching(/^job stalled more than allowable limit: its worker stopped/),
      attempts: 1,
      link: `http://jobs.example.com/admin/queues/queue/default/${encodeURIComponent(runId)}`,
    });
    expect(await metrics()).toContain('drumline_runs_total{job="tick",outcome="failed",app="scheduler"} 1');
    expect(receiver.received.filter((alert) => alert.runId === 'failed-otherwise')).toEqual([]);
  });

  it('sends one alert when two leaders overlapping in a failover both see the failure, and none once stopped', async () => {
    const [first, second] = [await watching(), await watching()];
    const runId = 'stalled-twice-watched';
    await queue.add('tick', {}, { jobId: runId });
    await stallToFailure(runId);
    await expect.poll(() => receiver.received.filter((alert) => alert.runId === runId), { timeout: 10_000 }).toHaveLength(1);
    // Both saw it; the second one's alert, had it been sent, is delivered by this flush.
    await expect.poll(async () => [await first.metrics(), await second.metrics()].filter((body) => body.includes('outcome="failed"')).length, { timeout: 10_000 }).toBe(2);
    await redis.ping();
    await alerts.flush();
    expect(receiver.received.filter((alert) => alert.runId === runId)).toHaveLength(1);

    await first.watcher.stop();
    await second.watcher.stop();
    // A watcher still running sees the stream in order: once a live one has seen the failure after
    // the unwatched one, a stopped watcher that still listened would have counted the first.
    const live = await watching();
    const unwatched = 'stalled-unwatched';
    await queue.add('tick', {}, { jobId: unwatched });
    await stallToFailure(unwatched);
    const after = 'stalled-after-stop';
    await queue.add('tick', {}, { jobId: after });
    await stallToFailure(after);
    await expect.poll(() => receiver.received.filter((alert) => alert.runId === after), { timeout: 10_000 }).toHaveLength(1);
    expect(await live.metrics()).toContain('drumline_runs_total{job="tick",outcome="failed",app="scheduler"} 2');
    await alerts.flush();
    expect(await first.metrics()).toContain('drumline_runs_total{job="tick",outcome="failed",app="scheduler"} 1');
    expect(await second.metrics()).toContain('drumline_runs_total{job="tick",outcome="failed",app="scheduler"} 1');
  });

  it('can be stopped before it started and stopped twice', async () => {
    const watcher = new StalledFailureWatcher({ redis, queues, store, alerts, logger });
    await watcher.stop();
    await watcher.start();
    await watcher.stop();
    await watcher.stop();
  });

  it('alerts on a run its queue removed on failure, as job `(unknown)`, and without a runs counter', async () => {
    await watching({ counted: false });
    const runId = 'stalled-and-removed';
    await queue.add('tick', {}, { jobId: runId, removeOnFail: true });
    await stallToFailure(runId);
    await expect.poll(() => receiver.received.filter((alert) => alert.runId === runId), { timeout: 10_000 }).toHaveLength(1);
    expect(await queue.getJob(runId)).toBeUndefined();
    expect(receiver.received.find((alert) => alert.runId === runId)).toMatchObject({ kind: 'run-failed', job: '(unknown)', attempts: null, schedule: null });
  });

  it('keeps listening through a restart of its Redis, with no RedisHealth to tell', async () => {
    const server = await OwnRedisServer.start();
    const own = new Redis(server.url, { maxRetriesPerRequest: null });
    let connectionErrors = 0;
    own.on('error', () => void connectionErrors++);
    const ownQueues = new QueueSet(registry, own, prefix);
    const watcher = new StalledFailureWatcher({ redis: own, queues: ownQueues, store: new ScheduleStore(own, prefix), alerts, logger });
    try {
      await watcher.start();
      await server.stop();
      // The watcher's stream connection fails its reconnects meanwhile: an unheard 'error' would end the process.
      await expect.poll(() => connectionErrors, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      await server.restart();
      const runId = 'stalled-after-redis-restart';
      await ownQueues.queueOf(tick).add('tick', {}, { jobId: runId });
      const worker = new Redis(server.url, { maxRetriesPerRequest: null });
      await stallToFailure(runId, { queue: ownQueues.queueOf(tick), connection: worker });
      await expect.poll(() => receiver.received.filter((alert) => alert.runId === runId), { timeout: 15_000 }).toHaveLength(1);
    } finally {
      await watcher.stop();
      await ownQueues.close();
      own.disconnect();
      await server.destroy();
    }
  });
});

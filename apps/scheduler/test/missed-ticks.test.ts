import { AlertWebhook, apiScheduleRecord, createJobRegistry, createLogger, createMetricsRegistry, createSchedulerMetrics, drumlineKeys, type Alert } from '@drumline/core/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { WebhookReceiver } from '../../../tests/support/webhook-receiver.js';
import { alertOnce } from '../src/alert-once.js';
import { reportMissedTicks, reportStalledSchedule } from '../src/missed-ticks.js';
import { tick as tickJob } from './scheduler-harness.js';

// The materializer's onMissed hook and the once-per-subject alert under it, against the real Redis
// and a local webhook receiver. Each test has schedule ids of its own, so any one runs alone.
const redis = connectTestRedis();
const prefix = uniquePrefix('scheduler-missed');
const keys = drumlineKeys(prefix);
const logger = createLogger({ app: 'missed-test', level: 'silent' });
const registry = createJobRegistry([tickJob]);
let receiver: WebhookReceiver<Alert>;
let alerts: AlertWebhook;

beforeAll(async () => {
  receiver = await WebhookReceiver.start<Alert>();
  alerts = new AlertWebhook({ url: receiver.url, publicUrl: undefined, logger });
});

afterAll(async () => {
  await receiver?.close();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

function reporter() {
  const metricsRegistry = createMetricsRegistry('scheduler');
  const told: [string, number][] = [];
  const deps = {
    redis,
    keys,
    alerts,
    logger,
    metrics: createSchedulerMetrics(metricsRegistry),
    overdueWatcher: { ticksMissed: (scheduleId: string, tick: number) => void told.push([scheduleId, tick]) },
  };
  return { report: reportMissedTicks(deps), stalled: reportStalledSchedule(deps), told, metrics: () => metricsRegistry.metrics() };
}
async function alertsFor(schedule: string): Promise<Alert[]> {
  await alerts.flush();
  return receiver.received.filter((alert) => alert.schedule === schedule);
}

describe('reportMissedTicks', () => {
  it('counts every dropped tick, tells the dead-man\'s switch the last one, and sends one alert for the batch', async () => {
    const { report, told, metrics } = reporter();
    const schedule = apiScheduleRecord(registry, 'dropped', { job: 'tick', every: '10s', misfire: 'skip' });
    const ticks = [Date.UTC(2026, 0, 1, 0, 0, 10), Date.UTC(2026, 0, 1, 0, 0, 20), Date.UTC(2026, 0, 1, 0, 0, 30)];
    report(schedule, ticks);

    expect(await metrics()).toContain('drumline_ticks_missed_total{schedule="dropped",app="scheduler"} 3');
    expect(told).toEqual([['dropped', ticks[2]]]);
    await expect.poll(() => alertsFor('dropped'), { timeout: 10_000 }).toHaveLength(1);
    expect((await alertsFor('dropped'))[0]).toMatchObject({
      kind: 'ticks-missed',
      job: 'tick',
      runId: null,
      schedule: 'dropped',
      tick: '2026-01-01T00:00:10.000Z',
      reason: '3 tick(s) from 2026-01-01T00:00:10.000Z to 2026-01-01T00:00:30.000Z dropped by misfire policy `skip`',
      attempts: null,
    });
  });

  it('alerts once for the same first tick, however many leaders report it', async () => {
    const schedule = apiScheduleRecord(registry, 'reported-twice', { job: 'tick', every: '10s', misfire: 'once' });
    const ticks = [Date.UTC(2026, 0, 2), Date.UTC(2026, 0, 2, 0, 0, 10)];
    reporter().report(schedule, ticks);
    await expect.poll(() => alertsFor('reported-twice'), { timeout: 10_000 }).toHaveLength(1);
    const second = reporter();
    second.report(schedule, ticks);
    expect(await second.metrics()).toContain('drumline_ticks_missed_total{schedule="reported-twice",app="scheduler"} 2');
    // The second report's SET NX answers before its alert would be sent: one round trip later, none was.
    await redis.ping();
    expect(await alertsFor('reported-twice')).toHaveLength(1);
  });

  it('does nothing for an empty batch', async () => {
    const { report, told, metrics } = reporter();
    report(apiScheduleRecord(registry, 'nothing-dropped', { job: 'tick', every: '10s' }), []);
    expect(told).toEqual([]);
    expect(await metrics()).not.toContain('schedule="nothing-dropped"');
    await redis.ping();
    expect(await alertsFor('nothing-dropped')).toEqual([]);
  });
});

describe('reportStalledSchedule', () => {
  it('counts the schedule as stalled and alerts once per schedule and instant, however many leaders report it', async () => {
    const schedule = apiScheduleRecord(registry, 'stalled-one', { job: 'tick', cron: '0 3 * * *', tz: 'Europe/Berlin' });
    const after = Date.UTC(2026, 5, 1);
    const first = reporter();
    first.stalled(schedule, after);
    expect(await first.metrics()).toContain('drumline_schedules_stalled_total{schedule="stalled-one",app="scheduler"} 1');
    await expect.poll(() => alertsFor('stalled-one'), { timeout: 10_000 }).toHaveLength(1);
    expect((await alertsFor('stalled-one'))[0]).toMatchObject({ kind: 'schedule-stalled', job: 'tick', schedule: 'stalled-one', runId: null, tick: null });
    expect((await alertsFor('stalled-one'))[0]?.reason).toContain('no tick after 2026-06-01T00:00:00.000Z');
    reporter().stalled(schedule, after);
    await redis.ping();
    expect(await alertsFor('stalled-one')).toHaveLength(1);
    // A later stall of the same schedule is news.
    reporter().stalled(schedule, after + 1);
    await expect.poll(() => alertsFor('stalled-one'), { timeout: 10_000 }).toHaveLength(2);
  });
});

describe('alertOnce', () => {
  const input = (schedule: string) => ({ kind: 'ticks-missed' as const, job: 'tick', runId: null, schedule, tick: null, reason: 'r', attempts: null });

  it('sends the first alert about a subject and marks it sent for a day', async () => {
    await alertOnce({ redis, keys, alerts, logger }, 'subject-a', input('once-a'));
    await alertOnce({ redis, keys, alerts, logger }, 'subject-a', input('once-a'));
    expect(await alertsFor('once-a')).toHaveLength(1);
    const ttl = await redis.ttl(keys.alertSent('subject-a'));
    expect(ttl).toBeLessThanOrEqual(86_400);
    expect(ttl).toBeGreaterThan(86_400 - 60);
  });

  it('sends the alert anyway when Redis cannot record it: better a duplicate than a lost alert', async () => {
    const unreachable = connectTestRedis();
    unreachable.disconnect();
    await alertOnce({ redis: unreachable, keys, alerts, logger }, 'subject-b', input('once-b'));
    expect(await alertsFor('once-b')).toHaveLength(1);
  });
});

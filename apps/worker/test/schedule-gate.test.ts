import { apiScheduleRecord, createJobRegistry, createLogger, defineJob, jitterOffsetMs, jobOptionsFor, manualRunId, QueueSet, scheduledRunId, ScheduleStore, summarizeTick, TickLedger } from '@drumline/core/runtime';
import { hostname } from 'node:os';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../../../tests/support/redis.js';
import { JobRunner } from '../src/job-runner.js';
import { gateScheduledRuns, ScheduleGate } from '../src/schedule-gate.js';

const prefix = uniquePrefix('worker-schedule-gate');
const runs: { id: string; start: number; end: number }[] = [];
const slow = defineJob({
  name: 'slow',
  queue: 'gated',
  schema: z.object({ ms: z.number().default(600) }),
  async handler({ ms }, { jobId }) {
    const start = Date.now();
    await sleep(ms);
    runs.push({ id: jobId, start, end: Date.now() });
    return 'ran';
  },
});
/** Fails its first `failTimes` attempts; says when each attempt's handler started. */
const flakyStarts = new Map<string, number[]>();
const flaky = defineJob({
  name: 'flaky',
  queue: 'gated',
  schema: z.object({ failTimes: z.number().int() }),
  attempts: 3,
  backoff: { type: 'fixed', delayMs: 50 },
  handler({ failTimes }, { jobId, attempt }) {
    flakyStarts.set(jobId, [...(flakyStarts.get(jobId) ?? []), Date.now()]);
    if (attempt <= failTimes) throw new Error(`attempt ${attempt} fails`);
    return 'ran';
  },
});
const registry = createJobRegistry([slow, flaky]);
const redis = connectTestRedis();
const queues = new QueueSet(registry, redis, prefix);
const store = new ScheduleStore(redis, prefix);
const queue = queues.all()[0]!;
const events = new QueueEvents('gated', { connection: { url: TEST_REDIS_URL }, prefix });
let worker: Worker;
let gate: ScheduleGate;
// Jobs no worker takes, handed to the gate directly with a clock of the test's choosing.
const ungated = new Queue('ungated', { connection: redis, prefix });

// Ticks a moment ago, each one new: on time for the misfire check, and not ahead of the clock,
// where the worker would hold the run until its tick.
let next = 0;
const tickOf = () => Date.now() - 500 + ++next;
// The clock-free decisions below take a tick of their own.
const base = Date.now() + 60_000;

async function put(id: string, overlap: 'allow' | 'skip' | 'queue') {
  await store.putFromApi(apiScheduleRecord(registry, id, { job: 'slow', every: '1h', overlap }));
}
function add(id: string, data: { ms?: number } = {}) {
  return queue.add('slow', data, { ...jobOptionsFor(slow), jobId: id });
}
async function until(condition: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}
const finished = async (id: string) => {
  const job = await queue.getJob(id);
  return job!.waitUntilFinished(events, 20_000);
};

beforeAll(async () => {
  await events.waitUntilReady();
  gate = new ScheduleGate(redis, prefix, { overlapLockMs: 2000, tickClaimSeconds: 60 });
  const runner = new JobRunner({ registry, logger: createLogger({ app: 'test', level: 'silent' }), beforeScheduledRun: gateScheduledRuns(gate) });
  worker = new Worker('gated', runner.process, { connection: connectTestRedis(), prefix, concurrency: 4 });
  await worker.waitUntilReady();
});

afterAll(async () => {
  await worker.close();
  await events.close();
  await ungated.close();
  await queues.close();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

describe('scheduled runs at the worker', () => {
  it("overlap 'skip' records a tick whose previous run is still active as skipped, not run", async () => {
    await put('skip-overlap', 'skip');
    const [first, second] = [scheduledRunId('skip-overlap', tickOf()), scheduledRunId('skip-overlap', tickOf())];
    await add(first);
    await until(async () => (await queue.getJobState(first)) === 'active');
    await add(second);
    expect(await finished(second)).toEqual({ skipped: 'overlap' });
    expect(await finished(first)).toBe('ran');
    expect((await store.lastRuns(['skip-overlap'])).get('skip-overlap')?.state).toBe('completed');
  });

  it("overlap 'queue' runs the next tick only after the previous one finished", async () => {
    await put('queue-overlap', 'queue');
    const [first, second] = [scheduledRunId('queue-overlap', tickOf()), scheduledRunId('queue-overlap', tickOf())];
    await add(first);
    await add(second);
    expect(await finished(first)).toBe('ran');
    expect(await finished(second)).toBe('ran');
    const [a, b] = [runs.find((r) => r.id === first)!, runs.find((r) => r.id === second)!];
    expect(b.start).toBeGreaterThanOrEqual(a.end);
  });

  it('a paused schedule does not run its ticks, but "run now" still runs', async () => {
    await put('paused', 'allow');
    await store.setPaused('paused', true);
    const tick = scheduledRunId('paused', tickOf());
    const manual = manualRunId('paused', Date.now());
    await add(tick, { ms: 10 });
    await add(manual, { ms: 10 });
    expect(await finished(tick)).toEqual({ skipped: 'paused' });
    expect(await finished(manual)).toBe('ran');
  });

  it('a tick re-added after retention removed its run is a duplicate and does not run again', async () => {
    await put('once-only', 'allow');
    const id = scheduledRunId('once-only', tickOf());
    await add(id, { ms: 10 });
    expect(await finished(id)).toBe('ran');
    await queue.remove(id);
    await add(id, { ms: 10 });
    expect(await finished(id)).toEqual({ skipped: 'duplicate' });
    expect(runs.filter((r) => r.id === id)).toHaveLength(1);
  });

  describe('the times a run reports', () => {
    it("sets a run held until its tick as processed when its handler starts, at or after the tick, not when the worker took it", async () => {
      await put('held', 'allow');
      const tick = Date.now() + 400;
      const id = scheduledRunId('held', tick);
      await add(id, { ms: 5 });
      expect(await finished(id)).toBe('ran');

      const job = (await queue.getJob(id))!;
      const handler = runs.find((run) => run.id === id)!;
      expect(job.timestamp).toBeLessThan(tick); // in the queue before its tick, so a worker held it
      expect(job.processedOn).toBeGreaterThanOrEqual(tick);
      expect(handler.start).toBeGreaterThanOrEqual(job.processedOn!);
      expect(job.finishedOn).toBeGreaterThanOrEqual(handler.end);
      expect((await store.lastRuns(['held'])).get('held')).toMatchObject({ state: 'completed', startedAt: job.processedOn, attempt: 1 });
    });

    it("keeps a retried run's first start as its schedule's last run, so retries do not make it late, and counts its attempts", async () => {
      await store.putFromApi(apiScheduleRecord(registry, 'retried', { job: 'flaky', every: '1h', data: { failTimes: 2 } }));
      const id = scheduledRunId('retried', tickOf());
      await queue.add('flaky', { failTimes: 2 }, { ...jobOptionsFor(flaky), jobId: id });
      expect(await finished(id)).toBe('ran');

      const [first, second, third] = flakyStarts.get(id)!;
      const lastRun = (await store.lastRuns(['retried'])).get('retried')!;
      expect(lastRun).toMatchObject({ runId: id, state: 'completed', attempt: 3 });
      expect(lastRun.startedAt).toBeLessThanOrEqual(first!);
      // The job itself says when its latest attempt started, as BullMQ's processedOn does.
      const job = (await queue.getJob(id))!;
      expect(job.processedOn).toBeGreaterThan(second!);
      expect(job.processedOn).toBeLessThanOrEqual(third!);
    });
  });

  describe('the tick ledger', () => {
    it("tells each attempt's start and end, by worker, a failure's reason and whether it is retried, and the tick ends `ran`", async () => {
      await store.putFromApi(apiScheduleRecord(registry, 'ledgered', { job: 'flaky', every: '1h', data: { failTimes: 1 } }));
      const tick = tickOf();
      const id = scheduledRunId('ledgered', tick);
      await queue.add('flaky', { failTimes: 1 }, { ...jobOptionsFor(flaky), jobId: id });
      expect(await finished(id)).toBe('ran');
      // Written with the other events of its turn, just after the run ended.
      const read = () => new TickLedger(redis, prefix).readTick('ledgered', tick);
      await expect.poll(async () => (await read())?.events.length, { timeout: 5_000 }).toBe(4);
      const entry = await read();
      const worker = `${hostname()}:${process.pid}`;
      expect(entry?.events.map((event) => ({ ...event, at: 0 }))).toEqual([
        { kind: 'started', at: 0, attempt: 1, worker },
        { kind: 'failed', at: 0, attempt: 1, worker, retry: true, reason: 'attempt 1 fails' },
        { kind: 'started', at: 0, attempt: 2, worker },
        { kind: 'completed', at: 0, attempt: 2, worker },
      ]);
      const [firstStart] = flakyStarts.get(id)!;
      expect(entry!.events[0]!.at).toBeLessThanOrEqual(firstStart!);
      expect(summarizeTick(entry!)).toMatchObject({ state: 'ran', attempts: 2 });
    });

    it('tells a skip with its reason: the tick ends `skipped:overlap`', async () => {
      await put('ledger-overlap', 'skip');
      const tick = tickOf();
      await redis.set(store.keys.overlapLock('ledger-overlap'), 'another-run', 'PX', 10_000);
      await add(scheduledRunId('ledger-overlap', tick), { ms: 1 });
      await finished(scheduledRunId('ledger-overlap', tick));
      const read = () => new TickLedger(redis, prefix).readTick('ledger-overlap', tick);
      await expect.poll(async () => (await read())?.events.length, { timeout: 5_000 }).toBe(1);
      const entry = await read();
      expect(entry?.events).toEqual([expect.objectContaining({ kind: 'skipped', why: 'overlap' })]);
      expect(summarizeTick(entry!).state).toBe('skipped:overlap');
    });
  });

  describe('deciding at a given time', () => {
    const HOUR = 3_600_000;
    const tick = Math.floor(base / HOUR) * HOUR;
    const enter = async (scheduleId: string, nowMs: number) => {
      const job = await ungated.add('slow', {}, { jobId: scheduledRunId(scheduleId, tick) });
      return gate.enter(job, { scheduleId, scheduledFor: new Date(tick), manual: false }, nowMs);
    };
    const lastRun = async (scheduleId: string) => (await store.lastRuns([scheduleId])).get(scheduleId);

    it('records an on-time run as the active one before its handler starts, and as completed when it finishes', async () => {
      await put('on-time', 'allow');
      const decision = await enter('on-time', tick + 40);

      expect(decision.action).toBe('run');
      expect(await lastRun('on-time')).toEqual({ runId: scheduledRunId('on-time', tick), scheduledFor: tick, startedAt: tick + 40, finishedAt: null, state: 'active', attempt: 1 });
      if (decision.action === 'run') await decision.finish({ state: 'completed' });
      expect(await lastRun('on-time')).toMatchObject({ state: 'completed', startedAt: tick + 40 });
    });

    it("reports a run that starts again, after a later tick's run started, from its first start", async () => {
      await put('again', 'allow');
      const job = await ungated.add('slow', {}, { jobId: scheduledRunId('again', tick) });
      const run = { scheduleId: 'again', scheduledFor: new Date(tick), manual: false };
      expect((await gate.enter(job, run, tick + 40)).action).toBe('run');
      const later = await ungated.add('slow', {}, { jobId: scheduledRunId('again', tick + HOUR) });
      expect((await gate.enter(later, { ...run, scheduledFor: new Date(tick + HOUR) }, tick + HOUR + 3)).action).toBe('run');

      const retry = await gate.enter(job, run, tick + HOUR + 900);
      expect(retry.action).toBe('run');
      expect(await lastRun('again')).toMatchObject({ runId: scheduledRunId('again', tick), startedAt: tick + 40, state: 'active' });
      if (retry.action === 'run') await retry.finish({ state: 'completed' });
      expect(await lastRun('again')).toMatchObject({ runId: scheduledRunId('again', tick), startedAt: tick + 40, state: 'completed' });
      expect((await ungated.getJob(job.id!))?.processedOn).toBe(tick + HOUR + 900);
    });

    it("drops a tick late beyond its schedule's misfire policy, recorded as missed, without recording it active", async () => {
      await store.putFromApi(apiScheduleRecord(registry, 'late-skip', { job: 'slow', every: '1h', misfire: 'skip' }));
      const decision = await enter('late-skip', tick + 10_000);

      expect(decision).toEqual({ action: 'skip', reason: 'missed' });
      expect(await lastRun('late-skip')).toMatchObject({ state: 'skipped', reason: 'missed' });
    });

    it('decides runs that ask in the same turn one after the other, as if each asked alone', async () => {
      await put('same-turn', 'skip');
      const first = await ungated.add('slow', {}, { jobId: scheduledRunId('same-turn', tick) });
      const second = await ungated.add('slow', {}, { jobId: scheduledRunId('same-turn', tick + 1000) });
      const ask = (job: typeof first, tickMs: number) => gate.enter(job, { scheduleId: 'same-turn', scheduledFor: new Date(tickMs), manual: false }, tickMs + 5);
      const [a, b] = await Promise.all([ask(first, tick), ask(second, tick + 1000)]);
      expect(a.action).toBe('run');
      expect(b).toEqual({ action: 'skip', reason: 'overlap' });
      expect(await lastRun('same-turn')).toMatchObject({ runId: scheduledRunId('same-turn', tick + 1000), state: 'skipped', reason: 'overlap' });
    });

    it('holds the overlap lock for the run with the TTL the config gives, renews it to no more than that, and lets it go when the run ends', async () => {
      await put('lock-ttl', 'skip');
      const lockMs = 1_500;
      const ttlGate = new ScheduleGate(redis, prefix, { overlapLockMs: lockMs, tickClaimSeconds: 60 });
      const lock = `${prefix}:drumline:overlap:lock-ttl`;
      const job = await ungated.add('slow', {}, { jobId: scheduledRunId('lock-ttl', tick) });
      const decision = await ttlGate.enter(job, { scheduleId: 'lock-ttl', scheduledFor: new Date(tick), manual: false }, tick + 5);

      expect(decision.action).toBe('run');
      expect(await redis.get(lock)).toBe(job.id);
      const first = await redis.pttl(lock);
      expect(first).toBeLessThanOrEqual(lockMs);
      expect(first).toBeGreaterThan(0);
      // The renewal (every third of the TTL) shows as a PTTL that went up again.
      let previous = first;
      await until(async () => {
        const pttl = await redis.pttl(lock);
        const renewed = pttl > previous;
        previous = pttl;
        return renewed;
      });
      expect(previous).toBeLessThanOrEqual(lockMs);
      if (decision.action === 'run') await decision.finish({ state: 'completed' });
      expect(await redis.exists(lock)).toBe(0);
    });

    it("lets a dead worker's overlap lock expire after overlapLockMs, and the next tick then runs", async () => {
      await put('dead-holder', 'skip');
      const lockMs = 300;
      const deadConnection = connectTestRedis();
      const deadGate = new ScheduleGate(deadConnection, prefix, { overlapLockMs: lockMs, tickClaimSeconds: 60 });
      const lock = `${prefix}:drumline:overlap:dead-holder`;
      const held = await ungated.add('slow', {}, { jobId: scheduledRunId('dead-holder', tick) });
      expect((await deadGate.enter(held, { scheduleId: 'dead-holder', scheduledFor: new Date(tick), manual: false }, tick + 5)).action).toBe('run');
      expect(await redis.pttl(lock)).toBeLessThanOrEqual(lockMs);
      // The worker dies: no renewal reaches Redis any more, and nothing lets the lock go.
      deadConnection.disconnect();

      await until(async () => (await redis.exists(lock)) === 0);
      const next = await ungated.add('slow', {}, { jobId: scheduledRunId('dead-holder', tick + HOUR) });
      const decision = await gate.enter(next, { scheduleId: 'dead-holder', scheduledFor: new Date(tick + HOUR), manual: false }, tick + HOUR + 5);
      expect(decision.action).toBe('run');
      if (decision.action === 'run') await decision.finish({ state: 'completed' });
    });

    // The README: "A tick counts as missed when it is more than 5 s late".
    it('runs a tick exactly 5 s late even under `skip`, and drops one 5 s and a millisecond late', async () => {
      await store.putFromApi(apiScheduleRecord(registry, 'on-the-line', { job: 'slow', every: '1h', misfire: 'skip' }));
      await store.putFromApi(apiScheduleRecord(registry, 'over-the-line', { job: 'slow', every: '1h', misfire: 'skip' }));
      const onTheLine = await enter('on-the-line', tick + 5_000);
      expect(onTheLine.action).toBe('run');
      if (onTheLine.action === 'run') await onTheLine.finish({ state: 'completed' });
      expect(await enter('over-the-line', tick + 5_001)).toEqual({ action: 'skip', reason: 'missed' });
    });

    it('judges a jittered schedule\'s run late from when it was due, not from its tick: 5 s after it runs, 5 s and a millisecond after it is dropped', async () => {
      // Schedules whose offset for this tick is over the threshold: late from the tick, on time from when due.
      const [id, id2] = Array.from({ length: 200 }, (_, index) => `jittered-${index}`).filter((candidate) => jitterOffsetMs(candidate, tick, 30_000) > 6_000) as [string, string];
      await store.putFromApi(apiScheduleRecord(registry, id, { job: 'slow', every: '1h', misfire: 'skip', jitterMs: 30_000 }));
      const due = tick + jitterOffsetMs(id, tick, 30_000);
      const onTime = await enter(id, due + 5_000);
      expect(onTime).toMatchObject({ action: 'run', dueMs: due });
      if (onTime.action === 'run') await onTime.finish({ state: 'completed' });
      await store.putFromApi(apiScheduleRecord(registry, id2, { job: 'slow', every: '1h', misfire: 'skip', jitterMs: 30_000 }));
      const due2 = tick + jitterOffsetMs(id2, tick, 30_000);
      expect(await enter(id2, due2 + 5_001)).toEqual({ action: 'skip', reason: 'missed' });
    });

    it('never drops as missed a run late by design (it waited for its flow limit), however late', async () => {
      await store.putFromApi(apiScheduleRecord(registry, 'waited-for-flow', { job: 'slow', every: '1h', misfire: 'skip' }));
      const job = await ungated.add('slow', {}, { jobId: scheduledRunId('waited-for-flow', tick) });
      const decision = await gate.enter(job, { scheduleId: 'waited-for-flow', scheduledFor: new Date(tick), manual: false, lateByDesign: true }, tick + 600_000);
      expect(decision).toMatchObject({ action: 'run', dueMs: tick });
      expect(await lastRun('waited-for-flow')).toMatchObject({ state: 'active', startedAt: tick + 600_000 });
      if (decision.action === 'run') await decision.finish({ state: 'completed' });
    });

    it('runs a late tick its misfire policy keeps, recorded active', async () => {
      await store.putFromApi(apiScheduleRecord(registry, 'late-once', { job: 'slow', every: '1h', misfire: 'once' }));
      const decision = await enter('late-once', tick + 10_000);

      expect(decision.action).toBe('run');
      expect(await lastRun('late-once')).toMatchObject({ state: 'active', startedAt: tick + 10_000 });
    });
  });

  describe('gateScheduledRuns, the seam the runner asks', () => {
    const logger = createLogger({ app: 'test', level: 'silent' });
    async function admitted(scheduleId: string) {
      await put(scheduleId, 'skip');
      const tick = Date.now() - 100;
      const job = await ungated.add('slow', {}, { jobId: scheduledRunId(scheduleId, tick) });
      const admission = await gateScheduledRuns(gate)({ job, token: undefined, definition: slow, scheduleId, scheduledFor: new Date(tick), logger });
      if (!admission.admit || !admission.release) throw new Error('expected the run to be admitted with a release');
      return admission.release;
    }

    it('admits a run that is not a scheduled one without asking anything', async () => {
      const job = await ungated.add('slow', {}, { jobId: 'on-demand-run' });
      expect(await gateScheduledRuns(gate)({ job, token: undefined, definition: slow, scheduleId: 'x', scheduledFor: new Date(0), logger })).toEqual({ admit: true });
    });

    it("records a failed run as failed with its reason, and lets its overlap lock go", async () => {
      const release = await admitted('released-failed');
      await release({ state: 'failed', reason: 'boom', willRetry: false });
      expect((await store.lastRuns(['released-failed'])).get('released-failed')).toMatchObject({ state: 'failed', reason: 'boom' });
      expect(await redis.exists(`${prefix}:drumline:overlap:released-failed`)).toBe(0);
    });

    it('records a completed run without a reason', async () => {
      const release = await admitted('released-completed');
      await release({ state: 'completed' });
      const last = (await store.lastRuns(['released-completed'])).get('released-completed');
      expect(last?.state).toBe('completed');
      expect(last).not.toHaveProperty('reason');
    });

    it('records a run given back at shutdown as still active: it will start again elsewhere', async () => {
      const release = await admitted('released-requeued');
      await release({ state: 'requeued' });
      expect((await store.lastRuns(['released-requeued'])).get('released-requeued')?.state).toBe('active');
    });

    it('skips a run of a deleted schedule without recording a last run', async () => {
      const job = await ungated.add('slow', {}, { jobId: scheduledRunId('never-was', Date.now() - 100) });
      const admission = await gateScheduledRuns(gate)({ job, token: undefined, definition: slow, scheduleId: 'never-was', scheduledFor: new Date(Date.now() - 100), logger });
      expect(admission).toEqual({ admit: false, result: { skipped: 'deleted' } });
      expect((await store.lastRuns(['never-was'])).has('never-was')).toBe(false);
    });
  });
});

import { closeRedis, createJobRegistry, createMetricsRegistry, createRunMetrics, defineJob, jobOptionsFor, manualRunId, QueueSet, type RunOutcome } from '@drumline/core/runtime';
import { QueueEvents, UnrecoverableError, Worker, type Job } from 'bullmq';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { z } from 'zod';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { WorkerShutdownError } from '../src/errors/worker-shutdown-error.js';
import { JobRunner, type FinalFailure } from '../src/job-runner.js';
import { admitEveryRun, type BeforeScheduledRun, type ScheduledRunOutcome } from '../src/scheduled-run-gate.js';
import { recordingLogger } from './recording-logger.js';

const QUEUE = 'runner';
const prefix = uniquePrefix('worker-job-runner');

/** What the handlers saw, for the assertions that the BullMQ job alone cannot answer. */
const seen = {
  echoCalls: 0,
  timeoutSignals: [] as AbortSignal[],
  flakyStarts: [] as { attempt: number; at: number }[],
};

const echo = defineJob({
  name: 'echo',
  queue: QUEUE,
  schema: z.object({ n: z.number().int(), label: z.string().default('plain') }),
  async handler(data, context) {
    seen.echoCalls += 1;
    const { jobId, jobName, attempt, scheduleId, scheduledFor, logger, log, progress } = context;
    await log(`echo ${data.n}`);
    await progress(50);
    await progress({ step: 'done' });
    return { data, jobId, jobName, attempt, scheduleId: scheduleId ?? null, scheduledFor: scheduledFor?.toISOString() ?? null, bindings: logger.bindings() };
  },
});

const stuck = defineJob({
  name: 'stuck',
  queue: QUEUE,
  schema: z.object({}),
  attempts: 2,
  backoff: { type: 'fixed', delayMs: 10 },
  timeoutMs: 200,
  async handler(_data, { signal }) {
    seen.timeoutSignals.push(signal);
    // Ignores its signal on purpose: the timeout must fail the attempt all the same.
    await new Promise(() => undefined);
  },
});

const flaky = defineJob({
  name: 'flaky',
  queue: QUEUE,
  schema: z.object({ failTimes: z.number().int() }),
  attempts: 3,
  backoff: { type: 'fixed', delayMs: 100 },
  handler({ failTimes }, { attempt }) {
    seen.flakyStarts.push({ attempt, at: Date.now() });
    if (attempt <= failTimes) throw new Error(`flaky failure on attempt ${attempt}`);
    return { succeededOn: attempt };
  },
});

const doomed = defineJob({
  name: 'doomed',
  queue: QUEUE,
  schema: z.object({}),
  attempts: 5,
  handler() {
    throw new UnrecoverableError('the account is closed');
  },
});

/** Says when its handler ran, to check that no scheduled run starts before its tick. */
const clock = defineJob({
  name: 'clock',
  queue: QUEUE,
  schema: z.object({}),
  handler: (_data, { attempt }) => ({ startedAt: Date.now(), attempt }),
});

/** Takes at least `ms` by the monotonic clock the runner times handlers with. */
const nap = defineJob({
  name: 'nap',
  queue: QUEUE,
  schema: z.object({ ms: z.number().int() }),
  async handler({ ms }) {
    const until = performance.now() + ms;
    // A timer may fire a little early: sleep again until the clock is there.
    for (let left = ms; left > 0; left = until - performance.now()) await new Promise((resolve) => setTimeout(resolve, left));
  },
});

/** On a queue of its own, served by a runner with neither metrics nor an alert hook. */
const BARE_QUEUE = 'runner-bare';
const bareFlaky = defineJob({
  name: 'bare-flaky',
  queue: BARE_QUEUE,
  schema: z.object({}),
  attempts: 2,
  backoff: { type: 'fixed', delayMs: 10 },
  handler(_data, { attempt }) {
    if (attempt === 1) throw new Error('bare failure on attempt 1');
    return { succeededOn: attempt };
  },
});

const registry = createJobRegistry([echo, stuck, flaky, doomed, clock, nap, bareFlaky]);
const gate = vi.fn<BeforeScheduledRun>(admitEveryRun);
const metrics = createRunMetrics(createMetricsRegistry('worker-test'));
const finalFailures: FinalFailure[] = [];

/** drumline_runs_total{job,outcome} so far. */
function runsTotal(job: string, outcome: RunOutcome): number {
  return metrics.of(job)[outcome];
}

/** drumline_run_duration_seconds{job}'s count and sum so far. */
function durations(job: string): { count: number; sum: number } {
  const series = metrics.of(job);
  return { count: series.durationCount, sum: series.durationSum };
}

const { logger, lines } = recordingLogger({ app: 'worker-test' });

let redis: ReturnType<typeof connectTestRedis>;
let eventsConnection: ReturnType<typeof connectTestRedis>;
let queues: QueueSet;
let events: QueueEvents;
let worker: Worker;
let runner: JobRunner;

beforeAll(async () => {
  redis = connectTestRedis();
  queues = new QueueSet(registry, redis, prefix);
  eventsConnection = connectTestRedis();
  events = new QueueEvents(QUEUE, { connection: eventsConnection, prefix });
  await events.waitUntilReady();
  runner = new JobRunner({
    registry,
    logger,
    beforeScheduledRun: gate,
    metrics,
    onFinalFailure: (failure) => finalFailures.push(failure),
  });
  worker = new Worker(QUEUE, runner.process, { connection: redis, prefix, concurrency: 5 });
  await worker.waitUntilReady();
});

afterAll(async () => {
  await worker?.close();
  await events?.close();
  if (eventsConnection) await closeRedis(eventsConnection);
  await queues?.close();
  if (redis) {
    await deleteKeys(redis, prefix);
    await closeRedis(redis);
  }
});

/** Polls the job's state until it is `state`, or fails after `timeoutMs`. */
async function untilState(job: Job, state: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await job.getState()) !== state) {
    if (Date.now() > deadline) throw new Error(`job ${job.id} is ${await job.getState()}, not ${state}, after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits for the job's final outcome, then reads it back from Redis. */
async function settled(job: Job): Promise<Job> {
  await job.waitUntilFinished(events, 20_000).catch(() => undefined);
  const stored = await queues.queueOf(echo).getJob(job.id ?? ''); // every test job is on QUEUE
  if (!stored) throw new Error(`job ${job.id} is gone`);
  return stored;
}

/** Adds a job without the enqueue-side validation, as a buggy or outdated producer could. */
function addUnchecked(jobName: string, data: unknown, jobId?: string): Promise<Job> {
  const job = registry.find(jobName) ?? echo;
  return queues.queueOf(job).add(jobName, data, { ...jobOptionsFor(job), ...(jobId ? { jobId } : {}) });
}

describe('JobRunner', () => {
  it('completes a valid job with the return value of its handler, which saw its payload and context, and counts it completed', async () => {
    const completedBefore = runsTotal('echo', 'completed');
    const job = await settled(await queues.enqueue('echo', { n: 7 }));
    expect(await job.getState()).toBe('completed');
    expect(runsTotal('echo', 'completed')).toBe(completedBefore + 1);
    expect(job.returnvalue).toEqual({
      data: { n: 7, label: 'plain' },
      jobId: job.id,
      jobName: 'echo',
      attempt: 1,
      scheduleId: null,
      scheduledFor: null,
      bindings: { app: 'worker-test', job: 'echo', runId: job.id, attempt: 1 },
    });
    expect(job.attemptsMade).toBe(1);
    expect(job.progress).toEqual({ step: 'done' });
    const { logs } = await queues.queueOf(echo).getJobLogs(job.id ?? '');
    expect(logs).toEqual(['echo 7']);
    expect(gate).not.toHaveBeenCalled();
  });

  it('gives a scheduled run its schedule and tick, read from its job id, and asks the gate first', async () => {
    gate.mockClear();
    const tick = Date.UTC(2026, 0, 1, 9, 30);
    const release = vi.fn<(outcome: ScheduledRunOutcome) => Promise<void>>(async () => undefined);
    gate.mockImplementationOnce(async () => ({ admit: true, release }));
    const job = await settled(await queues.enqueue('echo', { n: 1 }, { jobId: `nightly-echo@${tick}` }));
    expect(job.returnvalue).toMatchObject({
      scheduleId: 'nightly-echo',
      scheduledFor: new Date(tick).toISOString(),
      bindings: { job: 'echo', runId: `nightly-echo@${tick}`, attempt: 1, scheduleId: 'nightly-echo' },
    });
    expect(gate).toHaveBeenCalledTimes(1);
    expect(gate.mock.calls[0]?.[0]).toMatchObject({ scheduleId: 'nightly-echo', scheduledFor: new Date(tick), definition: echo });
    expect(release).toHaveBeenCalledTimes(1);
    expect(release).toHaveBeenCalledWith({ state: 'completed' });
  });

  it("tells the gate's release how an admitted scheduled run failed", async () => {
    const release = vi.fn<(outcome: ScheduledRunOutcome) => Promise<void>>(async () => undefined);
    gate.mockImplementationOnce(async () => ({ admit: true, release }));
    await settled(await queues.enqueue('doomed', {}, { jobId: `doomed-nightly@${Date.UTC(2026, 0, 3)}` }));
    expect(release).toHaveBeenCalledWith({ state: 'failed', reason: 'the account is closed', willRetry: false });
  });

  it("completes a scheduled run whose gate's release fails, and logs the release's error under the run", async () => {
    gate.mockImplementationOnce(async () => ({
      admit: true,
      release: async () => {
        throw new Error('the overlap lock is gone');
      },
    }));
    const job = await settled(await queues.enqueue('echo', { n: 5 }, { jobId: `unreleased-echo@${Date.now()}` }));
    expect(await job.getState()).toBe('completed');
    await expect
      .poll(() => lines.find((line) => line.runId === job.id && line.msg === 'releasing the scheduled run failed'), { timeout: 5_000 })
      .toMatchObject({ level: 50, err: { message: 'the overlap lock is gone' } });
  });

  it('fails a scheduled run cancelled while its gate decides, for good and without starting its handler', async () => {
    let gateAsked: () => void = () => undefined;
    const asked = new Promise<void>((resolve) => (gateAsked = resolve));
    let answer: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const release = vi.fn<(outcome: ScheduledRunOutcome) => Promise<void>>(async () => undefined);
    gate.mockImplementationOnce(async () => {
      gateAsked();
      await answered;
      return { admit: true, release };
    });
    // Answered however the test goes, so that a failed expectation cannot leave the run holding its slot.
    onTestFinished(() => answer());
    const callsBefore = seen.echoCalls;
    const job = await queues.enqueue('echo', { n: 6 }, { jobId: `cancelled-echo@${Date.now()}` });
    await asked;
    expect(runner.runningCount).toBe(1);
    expect(runner.cancel(QUEUE, job.id ?? '', 'not today')).toBe(true);
    answer();
    const done = await settled(job);
    expect(await done.getState()).toBe('failed');
    expect(done.failedReason).toBe('cancelled: not today');
    expect(done.attemptsMade).toBe(1);
    expect(seen.echoCalls).toBe(callsBefore);
    expect(release).toHaveBeenCalledWith({ state: 'failed', reason: 'cancelled: not today', willRetry: false });
    expect(runner.runningCount).toBe(0);
  });

  it('completes a scheduled run the gate turns away with the gate\'s result, without calling the handler, and counts it skipped, with no handler time', async () => {
    gate.mockImplementationOnce(async () => ({ admit: false, result: { skipped: 'previous run still active' } }));
    const callsBefore = seen.echoCalls;
    const [skippedBefore, completedBefore] = [runsTotal('echo', 'skipped'), runsTotal('echo', 'completed')];
    const durationsBefore = durations('echo');
    const job = await settled(await queues.enqueue('echo', { n: 2 }, { jobId: `overlapping@${Date.UTC(2026, 0, 2)}` }));
    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue).toEqual({ skipped: 'previous run still active' });
    expect(seen.echoCalls).toBe(callsBefore);
    expect(runsTotal('echo', 'skipped')).toBe(skippedBefore + 1);
    expect(runsTotal('echo', 'completed')).toBe(completedBefore);
    expect(durations('echo')).toEqual(durationsBefore);
  });

  it("observes an admitted scheduled run's lateness, start minus its tick, under its schedule", async () => {
    const tick = Date.now() - 2_000;
    await settled(await queues.enqueue('echo', { n: 3 }, { jobId: `late-echo@${tick}` }));
    const latestSeconds = (Date.now() - tick) / 1000;
    const values = (await metrics.lateness.get()).values.filter((value) => value.labels.schedule === 'late-echo');
    expect(values.find((value) => value.metricName === 'drumline_schedule_lateness_seconds_count')?.value).toBe(1);
    const sum = values.find((value) => value.metricName === 'drumline_schedule_lateness_seconds_sum')?.value ?? 0;
    expect(sum).toBeGreaterThanOrEqual(2);
    expect(sum).toBeLessThanOrEqual(latestSeconds);
    // Within the 2.5 s bucket, not the 1 s one: the run started 2 s and a little after its tick.
    expect(values.find((value) => (value.labels as { le?: number }).le === 1)?.value).toBe(0);
  });

  it('leaves a manual trigger ("run now") out of the schedule lateness it observes', async () => {
    const asked = Date.now() - 5_000;
    const job = await settled(await queues.enqueue('echo', { n: 4 }, { jobId: manualRunId('manual-echo', asked) }));
    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue).toMatchObject({ scheduleId: 'manual-echo' });
    const values = (await metrics.lateness.get()).values.filter((value) => value.labels.schedule === 'manual-echo');
    expect(values).toEqual([]);
  });

  it("starts a manual trigger at once, even when its id's time is ahead of this worker's clock", async () => {
    // A web process whose clock runs a minute ahead: the time is when it was asked for, not a tick to wait for.
    const asked = Date.now() + 60_000;
    const job = await queues.enqueue('clock', {}, { jobId: manualRunId('skewed-clock', asked) });
    await untilState(job, 'completed');
    const done = await settled(job);
    expect((done.returnvalue as { startedAt: number }).startedAt).toBeLessThan(asked);
  });

  it("observes a scheduled run's lateness once, for its first attempt: its retries start late by their backoff, not by the schedule", async () => {
    const job = await settled(await queues.enqueue('flaky', { failTimes: 2 }, { jobId: `retried-flaky@${Date.now() - 100}` }));
    expect(job.attemptsMade).toBe(3);
    const values = (await metrics.lateness.get()).values.filter((value) => value.labels.schedule === 'retried-flaky');
    expect(values.find((value) => value.metricName === 'drumline_schedule_lateness_seconds_count')?.value).toBe(1);
  });

  it('fails a payload its schema refuses at once, without retrying, with a reason naming each field', async () => {
    const callsBefore = seen.echoCalls;
    const job = await settled(await addUnchecked('echo', { n: 'seven', label: 3 }));
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/invalid payload for job `echo`/);
    expect(job.failedReason).toMatch(/\bn: /);
    expect(job.failedReason).toMatch(/\blabel: /);
    expect(seen.echoCalls).toBe(callsBefore);
  });

  it('fails a job no definition knows at once, naming it, and reports it as a final failure', async () => {
    const job = await settled(await addUnchecked('vanished', {}));
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/no job named `vanished`/);
    expect(finalFailures.find((failure) => failure.runId === job.id)).toMatchObject({ job: 'vanished', attempts: 1 });
    expect(runsTotal('(unknown)', 'failed')).toBeGreaterThanOrEqual(1);
  });

  it('fails an attempt that outlives timeoutMs with the timeout error, aborts its signal, and retries it', async () => {
    const job = await settled(await queues.enqueue('stuck', {}));
    expect(await job.getState()).toBe('failed');
    expect(job.failedReason).toBe('job `stuck` timed out after 200 ms');
    expect(job.attemptsMade).toBe(2);
    expect(job.stacktrace).toHaveLength(2);
    expect(seen.timeoutSignals).toHaveLength(2);
    for (const signal of seen.timeoutSignals) {
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toMatchObject({ name: 'JobTimeoutError', code: 'DRUMLINE_JOB_TIMEOUT' });
    }
  });

  it("records a handler's time in seconds, between the time it is known to take and the time its run took", async () => {
    const before = durations('nap');
    const startedAt = performance.now();
    const job = await settled(await queues.enqueue('nap', { ms: 50 }));
    const elapsedSeconds = (performance.now() - startedAt) / 1000;
    expect(await job.getState()).toBe('completed');
    const after = durations('nap');
    expect(after.count).toBe(before.count + 1);
    expect(after.sum - before.sum).toBeGreaterThanOrEqual(0.05);
    expect(after.sum - before.sum).toBeLessThan(elapsedSeconds);
  });

  it('retries a throwing handler after its backoff until an attempt succeeds', async () => {
    seen.flakyStarts.length = 0;
    const job = await settled(await queues.enqueue('flaky', { failTimes: 2 }));
    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue).toEqual({ succeededOn: 3 });
    expect(job.attemptsMade).toBe(3);
    expect(seen.flakyStarts.map((start) => start.attempt)).toEqual([1, 2, 3]);
    const [first, second, third] = seen.flakyStarts.map((start) => start.at);
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(100);
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(100);
  });

  it('fails a handler that throws on every attempt for good once its attempts are spent, counting retried attempts apart from the final failure and timing each', async () => {
    const [retriedBefore, failedBefore] = [runsTotal('flaky', 'retried'), runsTotal('flaky', 'failed')];
    const timedBefore = durations('flaky').count;
    const job = await settled(await queues.enqueue('flaky', { failTimes: 99 }));
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(3);
    expect(job.failedReason).toBe('flaky failure on attempt 3');
    expect(runsTotal('flaky', 'retried')).toBe(retriedBefore + 2);
    expect(runsTotal('flaky', 'failed')).toBe(failedBefore + 1);
    expect(durations('flaky').count).toBe(timedBefore + 3);
    expect(finalFailures.filter((failure) => failure.runId === job.id)).toEqual([
      { job: 'flaky', queue: QUEUE, runId: job.id, attempts: 3, reason: 'flaky failure on attempt 3', scheduleId: undefined, scheduledFor: undefined },
    ]);
  });

  it("never retries a handler's UnrecoverableError", async () => {
    const job = await settled(await queues.enqueue('doomed', {}));
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toBe('the account is closed');
  });

  describe('a scheduled run picked up before its tick (the scheduler promotes a little ahead)', () => {
    it('asks the gate and starts the handler no sooner than its tick, holding it on timers Node takes without a warning', async () => {
      gate.mockClear();
      const warnings: Error[] = [];
      const onWarning = (warning: Error) => warnings.push(warning);
      process.on('warning', onWarning);
      onTestFinished(() => void process.off('warning', onWarning));
      const gateAsked: number[] = [];
      gate.mockImplementationOnce(async () => {
        gateAsked.push(Date.now());
        return { admit: true };
      });
      // Within the 2 s a worker holds a run: however soon the worker takes it, it waits for its tick.
      const tick = Date.now() + 1_500;
      const done = await settled(await queues.enqueue('clock', {}, { jobId: `early-clock@${tick}` }));
      expect(await done.getState()).toBe('completed');
      expect(gateAsked).toHaveLength(1);
      expect(gateAsked[0]).toBeGreaterThanOrEqual(tick);
      expect((done.returnvalue as { startedAt: number }).startedAt).toBeGreaterThanOrEqual(tick);
      expect(done.attemptsMade).toBe(1);
      // A delay past setTimeout's 32-bit limit would be cut to 1 ms, with a TimeoutOverflowWarning on stderr.
      expect(warnings.filter((warning) => warning.name === 'TimeoutOverflowWarning')).toEqual([]);
    });

    it('moves a run that arrives far ahead of its tick back to delayed, and runs it at its tick, counting no failed attempt', async () => {
      gate.mockClear();
      const [retriedBefore, failedBefore] = [runsTotal('clock', 'retried'), runsTotal('clock', 'failed')];
      // Over twice MAX_PROMOTE_AHEAD_MS ahead, with 3 s to spare for the worker to take it.
      const tick = Date.now() + 5_000;
      const job = await queues.enqueue('clock', {}, { jobId: `far-early-clock@${tick}` });
      await untilState(job, 'delayed');
      expect(gate).not.toHaveBeenCalled();
      const done = await settled(job);
      expect(await done.getState()).toBe('completed');
      expect((done.returnvalue as { startedAt: number }).startedAt).toBeGreaterThanOrEqual(tick);
      expect(done.attemptsMade).toBe(1);
      expect(gate).toHaveBeenCalledTimes(1);
      expect([runsTotal('clock', 'retried'), runsTotal('clock', 'failed')]).toEqual([retriedBefore, failedBefore]);
      expect(finalFailures.filter((failure) => failure.runId === job.id)).toEqual([]);
    });

    it('gives a held run back to its queue without spending an attempt when the worker shuts down, and runs it at its tick', async () => {
      gate.mockClear();
      const tick = Date.now() + 1_500;
      const job = await queues.enqueue('clock', {}, { jobId: `shutdown-clock@${tick}` });
      await untilState(job, 'active');
      const [retriedBefore, failedBefore] = [runsTotal('clock', 'retried'), runsTotal('clock', 'failed')];
      runner.stopAll(new WorkerShutdownError(0));
      const done = await settled(job);
      // Given back, not failed: the attempt counts neither as retried nor as failed.
      expect([runsTotal('clock', 'retried'), runsTotal('clock', 'failed')]).toEqual([retriedBefore, failedBefore]);
      expect(await done.getState()).toBe('completed');
      expect((done.returnvalue as { startedAt: number; attempt: number }).attempt).toBe(1);
      expect((done.returnvalue as { startedAt: number }).startedAt).toBeGreaterThanOrEqual(tick);
      expect(gate).toHaveBeenCalledTimes(1);
    });
  });
});

describe('JobRunner without metrics or an alert hook', () => {
  let bareWorker: Worker;

  beforeAll(async () => {
    const bare = new JobRunner({ registry, logger, beforeScheduledRun: admitEveryRun });
    bareWorker = new Worker(BARE_QUEUE, bare.process, { connection: redis, prefix, concurrency: 2 });
    await bareWorker.waitUntilReady();
  });

  afterAll(async () => {
    await bareWorker?.close();
  });

  /** Polls the run on the bare queue until it is `state`, then reads it back. */
  async function finishedAs(job: Job, state: 'completed' | 'failed'): Promise<Job> {
    await expect.poll(() => job.getState(), { timeout: 10_000 }).toBe(state);
    const stored = await queues.queueOf(bareFlaky).getJob(job.id ?? '');
    if (!stored) throw new Error(`job ${job.id} is gone`);
    return stored;
  }

  it('fails a job no definition knows at once, naming it', async () => {
    const job = await finishedAs(await queues.queueOf(bareFlaky).add('vanished', {}, { attempts: 2 }), 'failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/no job named `vanished`/);
  });

  it("keeps a retried attempt's own error on record, then runs the next attempt", async () => {
    const job = await finishedAs(await queues.enqueue('bare-flaky', {}), 'completed');
    expect(job.returnvalue).toEqual({ succeededOn: 2 });
    expect(job.stacktrace).toHaveLength(1);
    expect(job.stacktrace?.[0]).toMatch(/^Error: bare failure on attempt 1/);
  });
});

import { closeRedis, createJobRegistry, defineJob, manualRunId, QueueSet, scheduledRunId } from '@drumline/core/runtime';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { QueueEvents, Worker, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { JobRunner } from '../src/job-runner.js';
import type { BeforeScheduledRun } from '../src/scheduled-run-gate.js';
import { recordingLogger } from './recording-logger.js';

// The run spans of JobRunner with a tracer, on a real BullMQ worker, exported to memory. The
// web-to-worker chain across processes is tests/e2e/tracing.test.ts; these are the outcomes it
// does not reach.

const QUEUE = 'traced';
const prefix = uniquePrefix('worker-run-tracing');
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
const tracer = provider.getTracer('test');

const nested = defineJob({
  name: 'nested',
  queue: QUEUE,
  schema: z.object({}),
  async handler() {
    // What a user's code (or a library it calls) does: a span under whatever is active.
    await trace.getTracer('user-code').startActiveSpan('query the database', async (span) => span.end());
  },
});
const strict = defineJob({ name: 'strict', queue: QUEUE, schema: z.object({ n: z.number() }), handler: () => undefined });
const registry = createJobRegistry([nested, strict]);
/** Skips every scheduled run, as a schedule's `overlap: skip` does while another run is going. */
const skipEveryRun: BeforeScheduledRun = async () => ({ admit: false, result: { skipped: true } });

let redis: ReturnType<typeof connectTestRedis>;
let eventsConnection: ReturnType<typeof connectTestRedis>;
let queues: QueueSet;
let events: QueueEvents;
let worker: Worker;

beforeAll(async () => {
  redis = connectTestRedis();
  eventsConnection = connectTestRedis();
  queues = new QueueSet(registry, redis, prefix, undefined, tracer);
  events = new QueueEvents(QUEUE, { connection: eventsConnection, prefix });
  await events.waitUntilReady();
  const runner = new JobRunner({ registry, logger: recordingLogger({ app: 'worker-test' }).logger, beforeScheduledRun: skipEveryRun, tracer });
  worker = new Worker(QUEUE, runner.process, { connection: redis, prefix, concurrency: 2 });
  await worker.waitUntilReady();
});

afterAll(async () => {
  await worker?.close();
  await events?.close();
  await queues?.close();
  await deleteKeys(redis, prefix);
  await Promise.all([closeRedis(redis), closeRedis(eventsConnection)]);
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

async function settled(job: Job): Promise<void> {
  await job.waitUntilFinished(events, 20_000).catch(() => undefined);
}

function runSpanOf(runId: string): ReadableSpan {
  const spans = exporter.getFinishedSpans().filter((span) => span.name.startsWith('run ') && span.attributes['messaging.message.id'] === runId);
  expect(spans).toHaveLength(1);
  return spans[0] as ReadableSpan;
}

describe('JobRunner with a tracer', () => {
  it("makes the run's span the active one in its handler, so the spans the handler's code makes are its children", async () => {
    const job = await queues.add(nested, {});
    await settled(job);

    const run = runSpanOf(job.id as string);
    const [child] = exporter.getFinishedSpans().filter((span) => span.name === 'query the database');
    expect(child?.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
    expect(child?.spanContext().traceId).toBe(run.spanContext().traceId);
    expect(run.attributes).toMatchObject({ 'drumline.job.name': 'nested', 'messaging.destination.name': QUEUE, 'drumline.run.attempt': 1, 'drumline.run.outcome': 'completed' });
  });

  it('ends the span of a run whose payload its schema refuses as failed, with the exception', async () => {
    // Added past the QueueSet's check, as an old producer or a hand-edited job could.
    const job = await queues.queueOf(strict).add('strict', { n: 'one' });
    await settled(job);

    const run = runSpanOf(job.id as string);
    expect(run.status.code).toBe(2);
    expect(run.events.map((event) => event.name)).toEqual(['exception']);
    expect(run.attributes['drumline.run.outcome']).toBe('failed');
  });

  it("gives a scheduled run's span its schedule and tick, and outcome skipped when its gate turns it away", async () => {
    const tick = Date.now() - 1000;
    const job = await queues.add(nested, {}, { jobId: scheduledRunId('nightly', tick) });
    await settled(job);

    expect(runSpanOf(job.id as string).attributes).toMatchObject({ 'drumline.schedule.id': 'nightly', 'drumline.schedule.tick': tick, 'drumline.run.outcome': 'skipped' });
  });

  it("gives a manual trigger's span its schedule but no tick: it was asked for, not due", async () => {
    const job = await queues.add(nested, {}, { jobId: manualRunId('nightly', Date.now()) });
    await settled(job);

    const { attributes } = runSpanOf(job.id as string);
    expect(attributes['drumline.schedule.id']).toBe('nightly');
    expect(attributes).not.toHaveProperty('drumline.schedule.tick');
  });
});

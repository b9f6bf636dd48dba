import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from './define-job.js';
import { createJobRegistry } from './job-registry.js';
import { QueueSet } from './queues.js';
import { closeRedis, createRedis } from './redis.js';
import { traceContextOf } from './tracing/job-trace-context.js';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../../../tests/support/redis.js';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
const tracer = provider.getTracer('test');

const registry = createJobRegistry([defineJob({ name: 'mail', queue: 'outbox', schema: z.object({ to: z.string() }), handler: () => undefined })]);
const mail = registry.get('mail');
const redis = createRedis({ REDIS_URL: TEST_REDIS_URL });
const prefix = uniquePrefix('core-queue-tracing');
const traced = new QueueSet(registry, redis, prefix, undefined, tracer);
const untraced = new QueueSet(registry, redis, prefix);

afterEach(() => exporter.reset());
afterAll(async () => {
  await Promise.all([traced.close(), untraced.close()]);
  await deleteKeys(redis, prefix);
  await closeRedis(redis);
  await provider.shutdown();
  // The API's globals outlive this file in its worker process.
  trace.disable();
  context.disable();
  propagation.disable();
});

/** The span context a stored run carries, read back from Redis as a worker reads it. */
async function storedParentOf(runId: string) {
  const stored = await traced.queueOf(mail).getJob(runId);
  const carried = stored && traceContextOf(stored.opts);
  return carried && trace.getSpanContext(carried);
}

describe('QueueSet with a tracer', () => {
  it('enqueues within an `enqueue` producer span, child of the active span, and the stored run carries that span as its parent', async () => {
    const request = tracer.startSpan('request');
    const run = await context.with(trace.setSpan(context.active(), request), () => traced.add(mail, { to: 'a@example.com' }));
    request.end();

    const [enqueue] = exporter.getFinishedSpans().filter((span) => span.name === 'enqueue mail');
    expect(enqueue?.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(enqueue?.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(enqueue?.attributes).toMatchObject({ 'messaging.destination.name': 'outbox', 'messaging.message.id': run.id, 'drumline.job.name': 'mail' });
    expect(await storedParentOf(run.id as string)).toMatchObject({ traceId: enqueue?.spanContext().traceId, spanId: enqueue?.spanContext().spanId });
  });

  it('gives every run of a bulk the one enqueue span, which counts them', async () => {
    const runs = await traced.addBulk(mail, [{ data: { to: 'a@example.com' } }, { data: { to: 'b@example.com' } }]);

    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.name)).toEqual(['enqueue mail']);
    expect(spans[0]?.attributes['messaging.batch.message_count']).toBe(2);
    for (const run of runs) expect((await storedParentOf(run.id as string))?.spanId).toBe(spans[0]?.spanContext().spanId);
  });

  it('ends the enqueue span with status error when the add fails, and rethrows', async () => {
    await expect(traced.add(mail, { to: 'a@example.com' }, { jobId: 'bad:id' })).rejects.toMatchObject({ code: 'DRUMLINE_INVALID_ID' });
    const [span] = exporter.getFinishedSpans();
    expect(span?.status.code).toBe(2);
    expect(span?.events.map((event) => event.name)).toEqual(['exception']);
  });
});

describe('QueueSet without a tracer', () => {
  it('makes no span and stores no trace context, even inside an active span', async () => {
    const outer = tracer.startSpan('outer');
    const run = await context.with(trace.setSpan(ROOT_CONTEXT, outer), () => untraced.add(mail, { to: 'a@example.com' }));
    outer.end();

    expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['outer']);
    expect((await untraced.queueOf(mail).getJob(run.id as string))?.opts.telemetry).toBeUndefined();
  });
});

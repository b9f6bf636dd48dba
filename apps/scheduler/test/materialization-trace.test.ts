import { scheduledRunId, traceContextOf } from '@drumline/core/runtime';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { afterAll, describe, expect, it } from 'vitest';
import { startScheduler } from './scheduler-harness.js';

const SECOND = 1000;
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

describe('materializer with a tracer', () => {
  it("gives each run a pass adds a materialize span of its own, the run's trace root, linked to the pass span; a pass that adds nothing makes no span", async () => {
    const s = await startScheduler({ name: 'materialization-trace', lookaheadMs: 4 * SECOND, tracer: provider.getTracer('test') });
    try {
      await s.elected;
      s.setNow(T0);
      await s.putApiSchedule('every-2s', { job: 'tick', every: '2s' });
      await s.materializer.load();
      expect((await s.materializer.pass()).added).toBe(2);
      expect((await s.materializer.pass()).added).toBe(0);

      const spans = exporter.getFinishedSpans();
      const passes = spans.filter((span) => span.name === 'materialization pass');
      expect(passes).toHaveLength(1);
      const pass = passes[0]!;
      expect(pass.attributes).toMatchObject({ 'drumline.leader.term': s.election.term, 'messaging.batch.message_count': 2 });
      const ticks = [T0 + 2 * SECOND, T0 + 4 * SECOND];
      for (const tick of ticks) {
        const runId = scheduledRunId('every-2s', tick);
        const [span] = spans.filter((candidate) => candidate.name === 'materialize tick' && candidate.attributes['messaging.message.id'] === runId);
        expect(span?.parentSpanContext).toBeUndefined();
        expect(span?.spanContext().traceId).not.toBe(pass.spanContext().traceId);
        expect(span?.links.map((link) => link.context.spanId)).toEqual([pass.spanContext().spanId]);
        expect(span?.attributes).toMatchObject({ 'drumline.schedule.id': 'every-2s', 'drumline.schedule.tick': tick, 'drumline.leader.term': s.election.term });
        // The run carries its span, so its attempts on a worker are that span's children.
        const stored = await s.queues.all()[0]!.getJob(runId);
        expect(trace.getSpanContext(traceContextOf(stored!.opts)!)?.spanId).toBe(span?.spanContext().spanId);
      }
      expect(spans).toHaveLength(3);
    } finally {
      await s.close();
    }
  });
});

import { parseScheduledRunId, runSpanAttributes, SpanAttributes, traceContextOf } from '@drumline/core/runtime';
import { context, ROOT_CONTEXT, SpanKind, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { Job } from 'bullmq';

/**
 * The span of one call of the processor for `job`: `run <job>`, a consumer span whose parent is the
 * span the run was enqueued under (carried in the job, see traceContextOptions). Every attempt is a
 * child of that one span, so a retried run shows as siblings; a run that carries none (added by
 * Bull Board's form, or before tracing was on) starts a trace of its own. A call the gates postpone
 * (a tick's hold, a flow limit, a shutdown) is a span too, with outcome `postponed` or `requeued`.
 */
export function startRunSpan(tracer: Tracer, job: Job): Span {
  const scheduled = parseScheduledRunId(job.id);
  return tracer.startSpan(
    `run ${job.name}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        ...runSpanAttributes('process', job.queueName, job.name, job.id),
        [SpanAttributes.attempt]: job.attemptsMade + 1,
        ...(scheduled ? { [SpanAttributes.scheduleId]: scheduled.scheduleId } : {}),
        ...(scheduled && !scheduled.manual ? { [SpanAttributes.tick]: scheduled.scheduledFor.getTime() } : {}),
      },
    },
    traceContextOf(job.opts) ?? ROOT_CONTEXT,
  );
}

/** The context to run a handler in: its run's span active, on top of whatever was active. */
export function activeRunContext(span: Span): Context {
  return trace.setSpan(context.active(), span);
}

import { propagation, ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
import type { JobsOptions } from 'bullmq';

/**
 * The options that carry `context`'s span in a job: W3C trace-context headers (`traceparent`,
 * `tracestate`) as JSON in `opts.telemetry.metadata`. That is BullMQ's own field for it (stored as
 * `tm` with the job, kept through retries), in the format its `bullmq-otel` telemetry writes, so
 * either side could switch to it and still read the other's jobs. Empty without a span to carry.
 */
export function traceContextOptions(context: Context): Pick<JobsOptions, 'telemetry'> {
  const carrier: Record<string, string> = {};
  propagation.inject(context, carrier);
  return carrier.traceparent === undefined ? {} : { telemetry: { metadata: JSON.stringify(carrier) } };
}

/** The span context a job was enqueued under, as a parent for its runs; undefined when it carries none (or none that parses). */
export function traceContextOf(opts: JobsOptions): Context | undefined {
  const metadata = opts.telemetry?.metadata;
  if (metadata === undefined) return undefined;
  let carrier: unknown;
  try {
    carrier = JSON.parse(metadata);
  } catch {
    return undefined;
  }
  if (typeof carrier !== 'object' || carrier === null) return undefined;
  const context = propagation.extract(ROOT_CONTEXT, carrier);
  return trace.getSpanContext(context) === undefined ? undefined : context;
}

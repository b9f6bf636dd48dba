import { SpanStatusCode, type Span } from '@opentelemetry/api';

/** Marks `span` as failed by `error`: status ERROR with its message, and the exception as an event (type, message, stack). */
export function failSpan(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  else span.recordException(String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

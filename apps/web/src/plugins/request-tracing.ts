import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { SpanAttributes } from '@drumline/core/runtime';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

interface RequestTrace {
  span: Span;
  /** The request's span within its caller's trace, made active around the handler. */
  context: Context;
}

/**
 * A server span per request of the scope it is registered in (`{method} {route}`, OpenTelemetry's
 * HTTP conventions), continuing the caller's trace when it sent a W3C `traceparent`. The span is
 * the active one while the route's handler runs, so what the handler enqueues is its child (the
 * enqueue span, see QueueSet). Written as a few hooks rather than with @fastify/otel, which by
 * default wraps every hook and handler in a span of its own (auth, body checks, replica acks: half a
 * dozen spans a request here) and brings @opentelemetry/instrumentation; one span a request is enough.
 *
 * It is made active in preHandler, after the body was read: Fastify reads it in stream events,
 * which would run outside a context entered earlier. Only errors of the server (5xx) set the span's
 * status to error; a 4xx is the caller's, and shows as its status code.
 */
export const requestTracing = fp<{ tracer: Tracer }>(
  async (app, { tracer }) => {
    const traces = new WeakMap<FastifyRequest, RequestTrace>();

    app.addHook('onRequest', (request, _reply, done) => {
      const parent = propagation.extract(ROOT_CONTEXT, request.headers);
      const route = request.routeOptions.url;
      const span = tracer.startSpan(
        route === undefined ? request.method : `${request.method} ${route}`,
        {
          kind: SpanKind.SERVER,
          attributes: {
            [SpanAttributes.httpMethod]: request.method,
            [SpanAttributes.urlPath]: request.url.split('?', 1)[0] ?? request.url,
            [SpanAttributes.urlScheme]: request.protocol,
            ...(route === undefined ? {} : { [SpanAttributes.httpRoute]: route }),
          },
        },
        parent,
      );
      traces.set(request, { span, context: trace.setSpan(parent, span) });
      done();
    });

    app.addHook('preHandler', (request, _reply, done) => {
      const current = traces.get(request);
      if (current) context.with(current.context, done);
      else done();
    });

    app.addHook('onError', async (request, reply, error) => {
      const span = traces.get(request)?.span;
      if (span && (error.statusCode ?? reply.statusCode) >= 500) span.recordException(error);
    });

    app.addHook('onResponse', async (request, reply) => {
      const span = traces.get(request)?.span;
      if (!span) return;
      traces.delete(request);
      span.setAttribute(SpanAttributes.httpStatusCode, reply.statusCode);
      if (reply.statusCode >= 500) {
        span.setAttribute(SpanAttributes.errorType, String(reply.statusCode));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    });

    app.addHook('onRequestAbort', async (request) => {
      const span = traces.get(request)?.span;
      if (!span) return;
      traces.delete(request);
      span.setAttribute(SpanAttributes.errorType, 'aborted');
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client closed the connection before the answer' });
      span.end();
    });
  },
  { name: 'drumline-request-tracing', fastify: '5.x' },
);

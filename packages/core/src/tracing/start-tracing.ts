import { diag, DiagLogLevel, trace, type Tracer } from '@opentelemetry/api';
import type { Sampler } from '@opentelemetry/sdk-trace-node';
import type { Logger } from '../logger.js';
import { tracesRequested, type TracingEnv } from './env.js';

/** The instrumentation scope of every Drumline span. */
const TRACER_NAME = 'drumline';

/** A process's tracing, once started: the tracer its spans come from, and the way to flush them on exit. */
export interface Tracing {
  readonly tracer: Tracer;
  /** Exports the spans still buffered and stops the SDK; call it last, after the process drained. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK for this process when `env` asks for traces (see `tracesRequested`),
 * and registers it as the global tracer provider, context manager (AsyncLocalStorage) and W3C
 * trace-context propagator. Otherwise it returns undefined and loads nothing: the SDK and the
 * exporter are imported here, on demand, so that a process without tracing neither pays for their
 * modules nor creates a span (callers skip their span code when they hold no tracer).
 */
export async function startTracing(env: TracingEnv, options: { serviceName: string; logger: Logger }): Promise<Tracing | undefined> {
  if (!tracesRequested(env)) return undefined;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { defaultResource, resourceFromAttributes }, { ATTR_SERVICE_NAME }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
  ]);
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  const { OTLPTraceExporter } = protocol === 'http/json' ? await import('@opentelemetry/exporter-trace-otlp-http') : await import('@opentelemetry/exporter-trace-otlp-proto');
  const url = tracesUrl(env);
  const exporter = new OTLPTraceExporter({
    url,
    headers: { ...env.OTEL_EXPORTER_OTLP_HEADERS, ...env.OTEL_EXPORTER_OTLP_TRACES_HEADERS },
    ...optional('timeoutMillis', env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT),
  });
  const serviceName = env.OTEL_SERVICE_NAME ?? options.serviceName;
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ ...env.OTEL_RESOURCE_ATTRIBUTES, [ATTR_SERVICE_NAME]: serviceName })),
    sampler: await samplerFor(env),
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        ...optional('scheduledDelayMillis', env.OTEL_BSP_SCHEDULE_DELAY),
        ...optional('exportTimeoutMillis', env.OTEL_BSP_EXPORT_TIMEOUT),
        ...optional('maxQueueSize', env.OTEL_BSP_MAX_QUEUE_SIZE),
        ...optional('maxExportBatchSize', env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE),
      }),
    ],
  });
  provider.register();
  // The SDK reports failed exports through its diagnostics channel, silent unless given a logger.
  const log = options.logger.child({ component: 'opentelemetry' });
  diag.setLogger(
    {
      error: (message, ...args) => log.error({ args }, message),
      warn: (message, ...args) => log.warn({ args }, message),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    DiagLogLevel.WARN,
  );
  options.logger.info({ url, protocol, serviceName }, 'exporting traces');
  return {
    tracer: trace.getTracer(TRACER_NAME),
    shutdown: () => provider.shutdown(),
  };
}

/** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, else `/v1/traces` under OTEL_EXPORTER_OTLP_ENDPOINT, else the collector on localhost. */
function tracesUrl(env: TracingEnv): string {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318';
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** The sampler OTEL_TRACES_SAMPLER names; unset, every trace is kept unless its parent was dropped (the SDK's default). */
async function samplerFor(env: TracingEnv): Promise<Sampler> {
  const { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler } = await import('@opentelemetry/sdk-trace-node');
  const ratio = () => new TraceIdRatioBasedSampler(env.OTEL_TRACES_SAMPLER_ARG ?? 1);
  switch (env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on') {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** `{ [key]: value }` when the variable was set, so that the SDK's own default applies otherwise. */
function optional<Key extends string>(key: Key, value: number | undefined): { [K in Key]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [K in Key]?: number };
}

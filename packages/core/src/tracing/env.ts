import { z } from 'zod';
import { intEnv } from '../config.js';

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** `key1=value1,key2=value2`, values percent-encoded (the OpenTelemetry spec's format for headers and resource attributes). */
const keyValueListEnv = z.string().transform((value, context): Record<string, string> => {
  const pairs: Record<string, string> = {};
  for (const item of value.split(',').map((part) => part.trim()).filter(Boolean)) {
    const equals = item.indexOf('=');
    const key = equals > 0 ? item.slice(0, equals).trim() : '';
    let decoded: string | undefined;
    try {
      decoded = decodeURIComponent(item.slice(equals + 1).trim());
    } catch {
      decoded = undefined;
    }
    if (!key || decoded === undefined) {
      context.addIssue({ code: 'custom', message: `must be key=value pairs separated by commas, values percent-encoded; \`${item}\` is not one` });
      return z.NEVER;
    }
    pairs[key] = decoded;
  }
  return pairs;
});

const protocolEnv = z.enum(['http/protobuf', 'http/json'], {
  error: 'must be http/protobuf or http/json (OTLP over HTTP; grpc is not built in: point it at the collector\'s HTTP port, 4318)',
});

const samplerEnv = z.enum(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio']);

/**
 * The standard OpenTelemetry variables Drumline reads to export traces (OTLP over HTTP). They are
 * parsed here, with the others, so that a bad value stops the process naming it instead of being
 * ignored by the SDK; the SDK is given the parsed values. Tracing is off unless they ask for it (see
 * `tracesRequested`). Empty strings count as unset, as everywhere in the config.
 */
export const tracingEnvShape = {
  /** `true` turns tracing off whatever the others say (the SDK's own switch). */
  OTEL_SDK_DISABLED: z.stringbool().optional(),
  /** `otlp` turns tracing on (to the default endpoint if none is set); `none` keeps it off. */
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none'], { error: 'must be otlp or none (the only trace exporters Drumline starts)' }).optional(),
  /** The collector's base URL; traces go to `<it>/v1/traces`. Setting it turns tracing on. */
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl.optional(),
  /** The full URL traces are POSTed to, used as it is. Setting it turns tracing on. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: httpUrl.optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: protocolEnv.optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocolEnv.optional(),
  OTEL_EXPORTER_OTLP_HEADERS: keyValueListEnv.optional(),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: keyValueListEnv.optional(),
  OTEL_EXPORTER_OTLP_TIMEOUT: intEnv(1, 600_000).optional(),
  OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: intEnv(1, 600_000).optional(),
  /** Unset: `drumline-web`, `drumline-worker` or `drumline-scheduler`. */
  OTEL_SERVICE_NAME: z.string().regex(/^\S+$/, 'must be a name without spaces').optional(),
  OTEL_RESOURCE_ATTRIBUTES: keyValueListEnv.optional(),
  OTEL_TRACES_SAMPLER: samplerEnv.optional(),
  /** The ratio of the `traceidratio` samplers, 0 to 1. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number({ error: 'must be a number from 0 to 1' }).min(0).max(1).optional(),
  OTEL_BSP_SCHEDULE_DELAY: intEnv(0, 600_000).optional(),
  OTEL_BSP_EXPORT_TIMEOUT: intEnv(1, 600_000).optional(),
  OTEL_BSP_MAX_QUEUE_SIZE: intEnv(1, 1_000_000).optional(),
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: intEnv(1, 1_000_000).optional(),
};

export type TracingEnv = z.output<z.ZodObject<typeof tracingEnvShape>>;

/** A `superRefine` for schemas with `tracingEnvShape`: a batch larger than the queue could never fill. */
export function requireConsistentTracing(env: TracingEnv, context: z.RefinementCtx): void {
  const { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: batch, OTEL_BSP_MAX_QUEUE_SIZE: queue } = env;
  if (batch !== undefined && batch > (queue ?? 2048)) {
    context.addIssue({ code: 'custom', path: ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE'], message: `must be at most OTEL_BSP_MAX_QUEUE_SIZE (${queue ?? 2048})` });
  }
}

/**
 * Whether the variables ask for traces: OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint, and neither
 * OTEL_TRACES_EXPORTER=none nor OTEL_SDK_DISABLED=true. The SDK's own default (otlp to localhost)
 * is not followed: a process nobody configured for tracing starts no exporter and pays nothing.
 */
export function tracesRequested(env: TracingEnv): boolean {
  if (env.OTEL_SDK_DISABLED === true || env.OTEL_TRACES_EXPORTER === 'none') return false;
  return env.OTEL_TRACES_EXPORTER === 'otlp' || env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined;
}

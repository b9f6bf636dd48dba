import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseEnv } from '../config.js';
import { configError } from '../config.test-support.js';
import { requireConsistentTracing, tracesRequested, tracingEnvShape } from './env.js';

const schema = z.object(tracingEnvShape).superRefine(requireConsistentTracing);
const refusal = (env: Record<string, string>) => configError(schema, env);

describe('tracingEnvShape', () => {
  it('asks for no traces when no OTEL_* variable is set', () => {
    expect(tracesRequested(parseEnv(schema, {}))).toBe(false);
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example.com/v1/traces' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false],
    [{ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }, false],
    // Variables that tune an exporter nobody asked for do not start one.
    [{ OTEL_SERVICE_NAME: 'jobs', OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, false],
  ])('with %j, traces are requested: %s', (env, requested) => {
    expect(tracesRequested(parseEnv(schema, env))).toBe(requested);
  });

  it('reads headers and resource attributes as percent-encoded key=value lists', () => {
    const env = parseEnv(schema, { OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc, x-tenant=eu', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod' });
    expect(env.OTEL_EXPORTER_OTLP_HEADERS).toEqual({ authorization: 'Bearer abc', 'x-tenant': 'eu' });
    expect(env.OTEL_RESOURCE_ATTRIBUTES).toEqual({ 'deployment.environment': 'prod' });
  });

  it.each([
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318', 'must be an http:// or https:// URL'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'grpc://collector:4317', 'must be an http:// or https:// URL'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', 'must be http/protobuf or http/json'],
    ['OTEL_TRACES_EXPORTER', 'jaeger', 'must be otlp or none'],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'authorization', 'must be key=value pairs'],
    ['OTEL_TRACES_SAMPLER_ARG', '2', 'must be a number from 0 to 1'],
    ['OTEL_BSP_SCHEDULE_DELAY', 'soon', 'must be a whole number'],
    ['OTEL_SDK_DISABLED', 'maybe', 'Invalid option'],
  ])('refuses %s=%j naming the variable', (variable, value, rule) => {
    const error = refusal({ [variable]: value });
    expect(error.variables).toEqual([variable]);
    expect(error.message).toContain(`${variable} ${rule}`);
  });

  it('refuses a batch larger than the queue it is taken from', () => {
    expect(refusal({ OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '500' }).variables).toEqual(['OTEL_BSP_MAX_EXPORT_BATCH_SIZE']);
  });
});

import { z } from 'zod';
import { ConfigError } from './errors/index.js';

export type Env = Record<string, string | undefined>;

/** Variables every Drumline process reads. Extend it with `.extend({...})` per app. */
export const baseEnvSchema = z.object({
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).default('redis://127.0.0.1:6379'),
  KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 letters, digits, _ or -')
    .default('drumline'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: z.stringbool().default(false),
});

/** A whole number read from an env variable, within bounds. */
export function intEnv(min: number, max = Number.MAX_SAFE_INTEGER) {
  // Only a value that is not a number at all gets this message: zod's own says "received NaN".
  const notANumber = (issue: { code: string }) => (issue.code === 'invalid_type' ? 'must be a whole number' : undefined);
  return z.coerce.number({ error: notANumber }).int('must be a whole number').min(min).max(max);
}

/** A comma-separated list read from an env variable. */
export const listEnv = z
  .string()
  .transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean));

/**
 * Parses the environment once at start-up. Empty strings count as unset.
 * @throws ConfigError whose message names every bad variable and why.
 */
export function parseEnv<Schema extends z.ZodObject>(schema: Schema, env: Env): z.output<Schema> {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const variables = [...new Set(result.error.issues.map((issue) => String(issue.path[0] ?? '(env)')))];
  const lines = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '(env)');
    // zod reports a missing enum or literal as `invalid_value`, not `invalid_type`.
    const missing = cleaned[name] === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value');
    const message = missing ? 'is required but not set' : issue.message;
    return `  ${name} ${message}`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`, variables);
}

/** A secret sent as `Authorization: Bearer <token>`: long enough not to guess, and nothing a header would mangle. */
export const bearerTokenEnv = z
  .string()
  .regex(/^[A-Za-z0-9._~+/-]+=*$/, 'must be a bearer token: letters, digits and -._~+/ only')
  .min(16, 'must be at least 16 characters (generate one with `openssl rand -hex 32`)');

/**
 * The metrics port of a worker or a scheduler. Unset, the process serves no metrics; set, it needs
 * METRICS_TOKEN too (see `requireMetricsToken`), because no port is open without credentials.
 */
export const metricsEnvShape = {
  METRICS_PORT: intEnv(0, 65_535).optional(),
  METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  /** Prometheus sends it as `Authorization: Bearer <METRICS_TOKEN>` (`authorization` in its scrape config). */
  METRICS_TOKEN: bearerTokenEnv.optional(),
};

/** Where alerts go, and the web address their links to the dashboard start from; both optional. */
export const alertEnvShape = {
  /** Receives a JSON POST per alert (final failure, missed tick, overdue schedule). Unset: no alerts are sent. */
  ALERT_WEBHOOK_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  /** Where users reach the web, so an alert can link to the run in the dashboard. */
  PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
};

/** A `superRefine` for schemas with `metricsEnvShape`: METRICS_PORT without METRICS_TOKEN is refused. */
export function requireMetricsToken(env: { METRICS_PORT?: number | undefined; METRICS_TOKEN?: string | undefined }, context: z.RefinementCtx): void {
  if (env.METRICS_PORT !== undefined && env.METRICS_TOKEN === undefined) {
    context.addIssue({ code: 'custom', path: ['METRICS_TOKEN'], message: 'is required when METRICS_PORT is set: the metrics port is never open without credentials' });
  }
}

/**
 * Writes that decide a run (a tick's claim on the worker; an acknowledged request on the web) wait
 * until this many replicas hold them, so that a Redis failover cannot take them back (see
 * ReplicaAcks). 0, the default, waits for none: right for a Redis without replicas.
 */
export const replicaAcksEnvShape = {
  REDIS_WAIT_REPLICAS: intEnv(0, 16).default(0),
  /** How long one wait for the replicas lasts before the write counts as unconfirmed. */
  REDIS_WAIT_TIMEOUT_MS: intEnv(1, 60_000).default(1000),
};

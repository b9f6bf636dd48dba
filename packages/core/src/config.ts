import { z } from 'zod';
import { ConfigError } from './errors/index.js';

export type Env = Record<string, string | undefined>;

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

/** A Redis node or sentinel: a host name or address, and a port. */
export interface HostPort {
  host: string;
  port: number;
}

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/;

/** A comma-separated list of `host:port` (an IPv6 address in brackets, `[::1]:6379`), at least one. */
export const hostPortListEnv = listEnv.transform((items, context): HostPort[] => {
  const nodes: HostPort[] = [];
  for (const item of items) {
    const match = HOST_PORT.exec(item);
    const port = Number(match?.[3]);
    if (!match || port < 1 || port > 65_535) {
      context.addIssue({ code: 'custom', message: `must be host:port pairs separated by commas; \`${item}\` is not one` });
      return z.NEVER;
    }
    nodes.push({ host: match[1] ?? match[2] ?? '', port });
  }
  if (nodes.length === 0) context.addIssue({ code: 'custom', message: 'must name at least one host:port' });
  return nodes;
});

/**
 * How a process reaches Redis: one of three shapes, never two. `REDIS_URL` (the default) is one
 * Redis; `REDIS_SENTINELS` finds the primary of `REDIS_SENTINEL_NAME` through Sentinel;
 * `REDIS_CLUSTER_NODES` is a Redis Cluster. The data nodes of the last two take their credentials
 * and TLS from `REDIS_USERNAME`, `REDIS_PASSWORD` and `REDIS_TLS` (a URL carries its own).
 * `createRedis` builds the connection from them.
 */
export const redisEnvShape = {
  /** Unset with neither of the other shapes: `redis://127.0.0.1:6379` (see `DEFAULT_REDIS_URL`). */
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional(),
  REDIS_SENTINELS: hostPortListEnv.optional(),
  /** The name of the primary the sentinels monitor (`sentinel monitor <name> ...`). */
  REDIS_SENTINEL_NAME: z.string().regex(/^\S+$/, 'must be the name the sentinels monitor the primary under, without spaces').optional(),
  /** The sentinels' own password (their `requirepass`), when they have one. */
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  REDIS_CLUSTER_NODES: hostPortListEnv.optional(),
  REDIS_USERNAME: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
  /** TLS to every node (and to the sentinels), checked against Node's CAs (add one with NODE_EXTRA_CA_CERTS). */
  REDIS_TLS: z.stringbool().optional(),
};

export type RedisEnv = z.output<z.ZodObject<typeof redisEnvShape>>;

const SHAPES = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const;
const ONE_SHAPE = 'set one of REDIS_URL (one Redis), REDIS_SENTINELS (Sentinel) or REDIS_CLUSTER_NODES (Cluster)';

/** A `superRefine` for `redisEnvShape`: one shape, and no variable that the chosen shape would ignore. */
export function requireOneRedisShape(env: RedisEnv, context: z.RefinementCtx): void {
  const refuse = (variable: keyof RedisEnv, message: string) => context.addIssue({ code: 'custom', path: [variable], message });
  const shapes = SHAPES.filter((name) => env[name] !== undefined);
  for (const name of shapes.slice(1)) refuse(name, `cannot be set together with ${shapes[0]}: ${ONE_SHAPE}`);
  const sentinel = env.REDIS_SENTINELS !== undefined;
  if (sentinel && env.REDIS_SENTINEL_NAME === undefined) refuse('REDIS_SENTINEL_NAME', 'is required with REDIS_SENTINELS: the name the sentinels monitor the primary under');
  for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD'] as const) {
    if (env[name] !== undefined && !sentinel) refuse(name, 'is only read with REDIS_SENTINELS');
  }
  if (sentinel || env.REDIS_CLUSTER_NODES !== undefined) return;
  for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'] as const) {
    if (env[name] !== undefined) {
      refuse(name, 'is only read with REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL, put the credentials in the URL (redis://user:password@host:port) and use rediss:// for TLS');
    }
  }
}

/** Variables every Drumline process reads. Extend it with `.extend({...})` per app. */
export const baseEnvSchema = z
  .object({
    ...redisEnvShape,
    KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 letters, digits, _ or -')
      .default('drumline'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    LOG_PRETTY: z.stringbool().default(false),
  })
  .superRefine(requireOneRedisShape);

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

/** A `superRefine` for schemas with `replicaAcksEnvShape`: WAIT confirms one primary's writes, and a cluster connection writes to several. */
export function requireOneReplicatedPrimary(env: { REDIS_WAIT_REPLICAS: number; REDIS_CLUSTER_NODES?: unknown }, context: z.RefinementCtx): void {
  if (env.REDIS_WAIT_REPLICAS > 0 && env.REDIS_CLUSTER_NODES !== undefined) {
    context.addIssue({ code: 'custom', path: ['REDIS_WAIT_REPLICAS'], message: 'is not supported with REDIS_CLUSTER_NODES: WAIT confirms the writes of one primary, and a cluster connection writes to several; leave it 0' });
  }
}


/**
 * How much history each schedule's tick ledger keeps (see TickLedger): the last TICK_LEDGER_MAX_TICKS
 * ticks, none older than TICK_LEDGER_MAX_AGE_HOURS, whichever is fewer. Read by its writers, the
 * scheduler and the workers.
 */
export const tickLedgerEnvShape = {
  TICK_LEDGER_MAX_TICKS: intEnv(1, 100_000).default(1000),
  TICK_LEDGER_MAX_AGE_HOURS: intEnv(1, 24 * 366).default(168),
};

/** The retention those variables describe. */
export function tickLedgerRetention(env: { TICK_LEDGER_MAX_TICKS: number; TICK_LEDGER_MAX_AGE_HOURS: number }): { maxTicks: number; maxAgeMs: number } {
  return { maxTicks: env.TICK_LEDGER_MAX_TICKS, maxAgeMs: env.TICK_LEDGER_MAX_AGE_HOURS * 3_600_000 };
}

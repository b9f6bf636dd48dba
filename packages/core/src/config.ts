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

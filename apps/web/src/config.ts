import {
  baseEnvSchema,
  bearerTokenEnv,
  intEnv,
  parseEnv,
  replicaAcksEnvShape,
  requireConsistentTracing,
  requireOneReplicatedPrimary,
  tickLedgerEnvShape,
  tracingEnvShape,
  type Env,
} from '@drumline/core/runtime';
import { z } from 'zod';

/** The web process's environment: the shared variables plus its port, credentials and public address. */
export const webEnvSchema = baseEnvSchema.extend({
  PORT: intEnv(0, 65_535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Clients of `/api` send it as `Authorization: Bearer <API_TOKEN>`. */
  API_TOKEN: bearerTokenEnv,
  /**
   * Prometheus sends it as `Authorization: Bearer <METRICS_TOKEN>` to `/metrics`. A token of its own:
   * the scraper should not hold the API_TOKEN, which can enqueue jobs. Unset: no `/metrics` route.
   */
  METRICS_TOKEN: bearerTokenEnv.optional(),
  /** Basic auth of the dashboard (`/admin/queues`) and the API docs (`/docs`). */
  DASHBOARD_USER: z.string().regex(/^[^:]+$/, "must not contain ':' (basic auth separates user and password with it)"),
  DASHBOARD_PASSWORD: z.string().min(12, 'must be at least 12 characters'),
  /** /readyz waits until the init tasks of this release have completed (set by the scheduler). */
  RELEASE: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ., _ or -').default('unreleased'),
  /** Where users reach this server, for the OpenAPI document's `servers`; optional. */
  PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  ...replicaAcksEnvShape,
  ...tracingEnvShape,
  ...tickLedgerEnvShape,
})
  .superRefine(requireOneReplicatedPrimary)
  .superRefine(requireConsistentTracing);

export type WebConfig = z.output<typeof webEnvSchema>;

/** Parses the web's configuration. @throws ConfigError naming every bad variable. */
export function loadConfig(env: Env): WebConfig {
  return parseEnv(webEnvSchema, env);
}

import {
  alertEnvShape,
  baseEnvSchema,
  intEnv,
  MAX_PROMOTE_AHEAD_MS,
  metricsEnvShape,
  parseEnv,
  requireConsistentTracing,
  requireMetricsToken,
  tickLedgerEnvShape,
  tracingEnvShape,
  type Env,
} from '@drumline/core/runtime';
import { z } from 'zod';

export const schedulerEnvSchema = baseEnvSchema
  .extend({
    /** A dead leader is replaced within this time (plus one standby poll, a tenth of it). */
    LEASE_TTL_MS: intEnv(1000, 600_000).default(5000),
    /** Ticks are added as delayed jobs this far ahead; longer than the lease, so ticks fire through a failover. */
    SCHEDULER_LOOKAHEAD_MS: intEnv(1000, 3_600_000).default(15_000),
    /** How often the leader applies API changes and tops up the lookahead window. */
    SCHEDULER_POLL_MS: intEnv(50, 60_000).default(500),
    /**
     * Each tick's runs are moved to `wait` this long before it, so that workers have picked them up
     * when it comes; a worker holds each until its tick. 0 promotes at the tick itself.
     */
    SCHEDULER_PROMOTE_AHEAD_MS: intEnv(0, MAX_PROMOTE_AHEAD_MS).default(300),
    /** Init tasks run once per release; set it to your image tag or commit. */
    RELEASE: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ., _ or -').default('unreleased'),
    /** Dead-man's switch: a tick whose run has not started this long after it flags its schedule and alerts. */
    SCHEDULE_OVERDUE_MS: intEnv(1000, 86_400_000).default(60_000),
    ...metricsEnvShape,
    ...alertEnvShape,
    ...tracingEnvShape,
    ...tickLedgerEnvShape,
  })
  .superRefine(requireMetricsToken)
  .superRefine(requireConsistentTracing)
  .refine((env) => env.SCHEDULER_LOOKAHEAD_MS > env.LEASE_TTL_MS, {
    path: ['SCHEDULER_LOOKAHEAD_MS'],
    message: 'must be longer than LEASE_TTL_MS, so ticks already added keep firing while a standby takes over',
  });

export type SchedulerConfig = z.output<typeof schedulerEnvSchema>;

export function loadSchedulerConfig(env: Env): SchedulerConfig {
  return parseEnv(schedulerEnvSchema, env);
}

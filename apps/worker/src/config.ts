import {
  alertEnvShape,
  baseEnvSchema,
  ConfigError,
  intEnv,
  listEnv,
  metricsEnvShape,
  parseEnv,
  replicaAcksEnvShape,
  requireConsistentTracing,
  requireOneReplicatedPrimary,
  requireMetricsToken,
  tickLedgerEnvShape,
  tracingEnvShape,
  type Env,
  type JobRegistry,
} from '@drumline/core/runtime';
import type { z } from 'zod';

export const workerEnvSchema = baseEnvSchema.extend({
  /** Queues this process takes jobs from, comma-separated; unset means every queue of the registry. */
  WORKER_QUEUES: listEnv.optional(),
  /** Jobs run at once per queue. */
  WORKER_CONCURRENCY: intEnv(1, 1000).default(10),
  /** How long running jobs may take to finish after SIGTERM before their signals abort. */
  SHUTDOWN_GRACE_MS: intEnv(0).default(30_000),
  /**
   * BullMQ's lockDuration, and the stalled-check interval: a worker that dies loses its jobs' locks
   * after this long, and another worker runs them again within about twice as long.
   */
  WORKER_LOCK_MS: intEnv(1000).default(30_000),
  ...metricsEnvShape,
  ...alertEnvShape,
  ...replicaAcksEnvShape,
  ...tracingEnvShape,
  ...tickLedgerEnvShape,
})
  .superRefine(requireMetricsToken)
  .superRefine(requireOneReplicatedPrimary)
  .superRefine(requireConsistentTracing);

export type WorkerConfig = Omit<z.output<typeof workerEnvSchema>, 'WORKER_QUEUES'> & {
  /** Never empty, and every name is a queue of the registry. */
  WORKER_QUEUES: readonly string[];
};

/**
 * Reads the worker's configuration from `env` and checks its queues against the registry.
 * @throws ConfigError naming each bad variable.
 */
export function loadWorkerConfig(env: Env, registry: JobRegistry): WorkerConfig {
  const parsed = parseEnv(workerEnvSchema, env);
  const known = registry.queueNames;
  const queues = parsed.WORKER_QUEUES?.length ? [...new Set(parsed.WORKER_QUEUES)] : known;
  const unknown = queues.filter((queue) => !known.includes(queue));
  if (unknown.length > 0) {
    throw new ConfigError(
      `invalid configuration:\n  WORKER_QUEUES names no job's queue: ${unknown.join(', ')} (known queues: ${known.join(', ')})`,
      ['WORKER_QUEUES'],
    );
  }
  if (queues.length === 0) {
    throw new ConfigError('invalid configuration:\n  WORKER_QUEUES is empty because no job is defined in packages/jobs', ['WORKER_QUEUES']);
  }
  return { ...parsed, WORKER_QUEUES: queues };
}

import type { Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { RunNotFoundError } from './errors/run-not-found-error.js';
import { RunStateConflictError } from './errors/run-state-conflict-error.js';

export const FINISHED: ReadonlySet<string> = new Set(['completed', 'failed']);
/** States in which no worker has taken the run: it can simply be removed. */
const NOT_STARTED: ReadonlySet<string> = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children']);

/** @throws RunNotFoundError */
export async function findRun(app: FastifyInstance, name: string, id: string): Promise<Job> {
  const run = await app.queues.findRun(name, id);
  if (!run) throw new RunNotFoundError(name, id);
  return run;
}

/**
 * Cancels a run, for the API and the schedules page: one not started yet is removed; an active one
 * is aborted by whichever worker holds it, told over the cancel channel every worker listens to.
 * @throws RunStateConflictError for a finished run
 */
export async function cancelRun(app: FastifyInstance, run: Job, reason: string): Promise<{ id: string; state: 'cancelled' | 'cancelling' }> {
  const id = run.id as string;
  const state = await run.getState();
  if (FINISHED.has(state)) throw new RunStateConflictError(id, state, 'only a run that has not finished can be cancelled');
  if (NOT_STARTED.has(state)) {
    const removed = await run.remove().then(
      () => true,
      // A worker took it between the two reads (BullMQ refuses to remove a locked job): abort it there.
      () => false,
    );
    if (removed) {
      const definition = app.registry.find(run.name);
      // At worst the place lapses on its own (FLOW_RESERVATION_MS): a payload its job no longer reads cannot name it.
      if (definition) await app.queues.withdrawn(definition, run).catch(() => undefined);
      return { id, state: 'cancelled' };
    }
  }
  await app.redis.publish(app.keys.runCancels, JSON.stringify({ queue: run.queueName, runId: id, reason }));
  return { id, state: 'cancelling' };
}

import { setTimeout as sleep } from 'node:timers/promises';
import { initRunId, jobOptionsFor, type InitTaskDefinition, type LeaderElection, type Logger, type QueueSet, type RedisConnection } from '@drumline/core/runtime';

/**
 * Runs the init tasks of `release` once across the deployment, in list order, and then marks the
 * release done (a fenced write). Each task is a job with id `init.<task>.<release>`, so a new
 * leader that takes over mid-way waits for the same job instead of starting it again.
 * Returns false if leadership was lost before all tasks completed.
 */
export async function runInitTasks(deps: {
  tasks: readonly InitTaskDefinition[];
  initQueues: QueueSet;
  redis: RedisConnection;
  initDoneKey: string;
  release: string;
  election: LeaderElection;
  logger: Logger;
  pollMs: number;
}): Promise<boolean> {
  const { tasks, initQueues, redis, initDoneKey, release, election, logger, pollMs } = deps;
  if (await redis.hexists(initDoneKey, release)) return true;
  for (const task of tasks) {
    const queue = initQueues.queueOf(task);
    const id = initRunId(task.name, release);
    await queue.add(task.name, { release }, { ...jobOptionsFor(task), jobId: id });
    logger.info({ task: task.name, release, runId: id }, 'init task enqueued; waiting for it to complete');
    let warned = false;
    for (;;) {
      if (!election.isLeader) return false;
      const job = await queue.getJob(id);
      const state = job ? await job.getState() : 'unknown';
      if (state === 'completed') break;
      if (state === 'failed' && !warned) {
        warned = true;
        logger.error({ task: task.name, release, reason: job?.failedReason }, 'init task failed all its attempts; schedules wait until it is retried from the dashboard and completes');
      }
      if (state === 'unknown') await queue.add(task.name, { release }, { ...jobOptionsFor(task), jobId: id });
      await sleep(pollMs);
    }
    logger.info({ task: task.name, release }, 'init task completed');
  }
  return election.writeHashFenced(initDoneKey, [[release, String(Date.now())]]);
}

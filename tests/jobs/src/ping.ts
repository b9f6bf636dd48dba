import { defineJob } from '@drumline/core';
import { z } from 'zod';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A smoke-test job: runs on any worker, optionally takes `sleepMs`, and says which process ran it.
 * Schedule it through the API to check the whole path (web, scheduler, workers) in production.
 * With `failWith`, every attempt fails with that message: a way to check failure alerts end to end.
 * With `failAttempts`, only the first that many attempts fail: a run that succeeds on a retry.
 */
export const ping = defineJob({
  name: 'ping',
  schema: z.object({
    sleepMs: z.number().int().min(0).max(600_000).default(0),
    note: z.string().max(200).optional(),
    /** Fail every attempt with this message (so the run fails for good after its 3 attempts). */
    failWith: z.string().min(1).max(200).optional(),
    /** Fail the first this many attempts (`attempt n of ping failed on purpose`), then succeed. */
    failAttempts: z.number().int().min(1).max(2).optional(),
  }),
  attempts: 3,
  backoff: { type: 'fixed', delayMs: 500 },
  // `context.signal` is read only when sleeping: the worker makes a run's AbortController on first read.
  async handler({ sleepMs, note, failWith, failAttempts }, context) {
    if (sleepMs > 0) await sleep(sleepMs, undefined, { signal: context.signal });
    if (failWith !== undefined) throw new Error(failWith);
    if (failAttempts !== undefined && context.attempt <= failAttempts) throw new Error(`attempt ${context.attempt} of ping failed on purpose`);
    return { pid: process.pid, note, at: new Date().toISOString() };
  },
});

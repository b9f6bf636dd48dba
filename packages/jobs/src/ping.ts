import { defineJob } from '@drumline/core';
import { z } from 'zod';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A smoke-test job: runs on any worker, optionally takes `sleepMs`, and says which process ran it.
 * Schedule it through the API to check the whole path (web, scheduler, workers) in production.
 */
export const ping = defineJob({
  name: 'ping',
  schema: z.object({
    sleepMs: z.number().int().min(0).max(600_000).default(0),
    note: z.string().max(200).optional(),
  }),
  attempts: 3,
  backoff: { type: 'fixed', delayMs: 500 },
  async handler({ sleepMs, note }, { signal }) {
    if (sleepMs > 0) await sleep(sleepMs, undefined, { signal });
    return { pid: process.pid, note, at: new Date().toISOString() };
  },
});

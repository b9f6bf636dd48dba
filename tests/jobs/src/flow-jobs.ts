import { defineJob } from '@drumline/core';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

// Jobs with flow control, for its tests and benchmarks: each run returns when its handler started
// and ended, and in which process, so a test can check the limits from the runs alone.

const timed = async <T extends object>(sleepMs: number, signal: AbortSignal, fields: T) => {
  const startedAt = Date.now();
  if (sleepMs > 0) await sleep(sleepMs, undefined, { signal });
  return { ...fields, startedAt, finishedAt: Date.now(), pid: process.pid };
};

/** At most 2 at once per tenant, over every worker. */
export const syncTenant = defineJob({
  name: 'sync-tenant',
  queue: 'flow',
  schema: z.object({ tenantId: z.string().min(1).max(100), sleepMs: z.number().int().min(0).max(60_000).default(50) }),
  concurrency: { key: (data) => data.tenantId, limit: 2 },
  attempts: 1,
  // Every run kept a day, so a benchmark can read back each one's timings.
  retention: { completed: { ageSeconds: 86_400, count: 100_000 } },
  handler: ({ tenantId, sleepMs }, { signal }) => timed(sleepMs, signal, { tenantId }),
});

/** sync-tenant without its limit: the benchmark's measure of what the limit costs. */
export const syncTenantUnlimited = defineJob({
  name: 'sync-tenant-unlimited',
  queue: 'flow',
  schema: z.object({ tenantId: z.string().min(1).max(100), sleepMs: z.number().int().min(0).max(60_000).default(50) }),
  attempts: 1,
  retention: { completed: { ageSeconds: 86_400, count: 100_000 } },
  handler: ({ tenantId, sleepMs }, { signal }) => timed(sleepMs, signal, { tenantId }),
});

/** At most 5 starts a second per API key. */
export const callPartner = defineJob({
  name: 'call-partner',
  queue: 'flow',
  schema: z.object({ apiKey: z.string().min(1).max(100), sleepMs: z.number().int().min(0).max(60_000).default(0) }),
  rateLimit: { max: 5, perMs: 1000, key: (data) => data.apiKey },
  attempts: 1,
  handler: ({ apiKey, sleepMs }, { signal }) => timed(sleepMs, signal, { apiKey }),
});

/** A second enqueue for the same tenant within a minute is the first one's run. */
export const refreshCache = defineJob({
  name: 'refresh-cache',
  queue: 'flow',
  schema: z.object({ tenantId: z.string().min(1).max(100), version: z.number().int().default(0) }),
  dedupe: { key: (data) => data.tenantId, ttlMs: 60_000 },
  attempts: 1,
  handler: ({ tenantId, version }, { signal }) => timed(0, signal, { tenantId, version }),
});

/** Runs once a tenant has been quiet for a second, with the last enqueue's data. */
export const reindexTenant = defineJob({
  name: 'reindex-tenant',
  queue: 'flow',
  schema: z.object({ tenantId: z.string().min(1).max(100), version: z.number().int().default(0), sleepMs: z.number().int().min(0).max(60_000).default(0) }),
  debounce: { key: (data) => data.tenantId, waitMs: 1000 },
  attempts: 1,
  handler: ({ tenantId, version, sleepMs }, { signal }) => timed(sleepMs, signal, { tenantId, version }),
});

/** A key function that fails on some payloads, as a buggy one would: `mode` says how. */
export const keyedBadly = defineJob({
  name: 'keyed-badly',
  queue: 'flow',
  schema: z.object({ mode: z.enum(['ok', 'throw', 'number', 'empty']) }),
  rateLimit: {
    max: 100,
    perMs: 1000,
    key: ({ mode }) => {
      if (mode === 'throw') throw new Error('no key for this payload');
      if (mode === 'number') return 42 as unknown as string;
      return mode === 'empty' ? '' : mode;
    },
  },
  handler: () => ({ ok: true }),
});

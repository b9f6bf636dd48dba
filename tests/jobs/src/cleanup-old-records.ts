import { defineJob } from '@drumline/core';
import { z } from 'zod';

/** Every 30 minutes: deletes expired sessions in batches, so no single query locks the table for long. */
export const cleanupOldRecords = defineJob({
  name: 'cleanup-old-records',
  queue: 'maintenance',
  schema: z.object({
    table: z.enum(['sessions', 'password_resets', 'audit_log']),
    olderThanDays: z.number().int().min(1).max(3650),
    batchSize: z.number().int().min(1).max(10_000).default(1000),
  }),
  timeoutMs: 10 * 60_000,
  schedules: [
    { id: 'cleanup-sessions', every: '30m', data: { table: 'sessions', olderThanDays: 30 }, overlap: 'skip', misfire: 'once' },
  ],
  async handler({ table, olderThanDays, batchSize }, { log, progress, signal, scheduledFor }) {
    const cutoff = new Date((scheduledFor ?? new Date()).getTime() - olderThanDays * 86_400_000);
    await log(`deleting ${table} rows older than ${cutoff.toISOString()} in batches of ${batchSize}`);
    // Replace with: DELETE FROM <table> WHERE created_at < $1 LIMIT $2, until it deletes nothing.
    signal.throwIfAborted();
    await progress(100);
    return { table, cutoff: cutoff.toISOString(), deleted: 0 };
  },
});

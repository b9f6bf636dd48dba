import { defineJob } from '@drumline/core';
import { z } from 'zod';

/** Daily at 02:00 Shanghai time, when the shop is quiet: coupons past their end date stop working. */
export const expireCoupons = defineJob({
  name: 'expire-coupons',
  queue: 'maintenance',
  schema: z.object({ graceHours: z.number().int().min(0).max(72).default(0) }),
  attempts: 5,
  schedules: [{ id: 'expire-coupons-nightly', cron: '0 2 * * *', tz: 'Asia/Shanghai', data: {}, misfire: 'once', overlap: 'skip' }],
  async handler({ graceHours }, { scheduledFor, log, signal }) {
    // Expire relative to the nominal tick, not "now", so a late or repeated run expires the same set.
    const expiresBefore = new Date((scheduledFor ?? new Date()).getTime() - graceHours * 3_600_000);
    signal.throwIfAborted();
    await log(`expiring coupons that ended before ${expiresBefore.toISOString()}`);
    return { expiresBefore: expiresBefore.toISOString(), expired: 0 };
  },
});

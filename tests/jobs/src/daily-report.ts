import { defineJob } from '@drumline/core';
import { z } from 'zod';

/** Weekdays at 09:30 Berlin time: yesterday's figures, mailed to the team before stand-up. */
export const dailyReport = defineJob({
  name: 'daily-report',
  queue: 'reports',
  schema: z.object({
    recipients: z.array(z.email()).min(1),
    format: z.enum(['html', 'csv']).default('html'),
  }),
  timeoutMs: 15 * 60_000,
  schedules: [
    {
      id: 'daily-report-team',
      cron: '30 9 * * 1-5',
      tz: 'Europe/Berlin',
      data: { recipients: ['team@example.com'] },
      misfire: 'once',
    },
  ],
  async handler({ recipients, format }, { scheduledFor, progress, log }) {
    const day = new Date((scheduledFor ?? new Date()).getTime() - 86_400_000).toISOString().slice(0, 10);
    await log(`building the ${format} report for ${day}`);
    await progress(50);
    await log(`sending it to ${recipients.length} recipient(s)`);
    await progress(100);
    return { day, recipients: recipients.length, format };
  },
});

import type { JobDataOf, JobNameOf } from '@drumline/core';
import { cleanupOldRecords } from './cleanup-old-records.js';
import { dailyReport } from './daily-report.js';
import { expireCoupons } from './expire-coupons.js';
import { migrateDatabase } from './init-tasks.js';
import { ping } from './ping.js';
import { sendEmail } from './send-email.js';

/** Every job Drumline knows. To add one: write `src/<name>.ts` with `defineJob`, then list it here. */
export const jobs = [sendEmail, cleanupOldRecords, expireCoupons, dailyReport, ping] as const;

/** Run once per release (RELEASE), in this order, before schedules fire. */
export const initTasks = [migrateDatabase] as const;

export type JobName = JobNameOf<typeof jobs>;
export type JobData<Name extends JobName> = JobDataOf<typeof jobs, Name>;

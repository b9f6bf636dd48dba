// The jobs the framework's own tests run: the built apps load them with JOBS_MODULE (see
// tests/support/processes.ts), the in-process tests import them. They started as copies of the
// examples in packages/jobs, which belong to the user and may change or go; these stay as the tests
// expect them.
import type { JobDataOf, JobNameOf } from '@drumline/core';
import { cleanupOldRecords } from './cleanup-old-records.js';
import { dailyReport } from './daily-report.js';
import { expireCoupons } from './expire-coupons.js';
import { callPartner, keyedBadly, refreshCache, reindexTenant, syncTenant, syncTenantUnlimited } from './flow-jobs.js';
import { migrateDatabase } from './init-tasks.js';
import { ping } from './ping.js';
import { sendEmail } from './send-email.js';
import { witness } from './witness.js';

/** Every job the tests know. */
export const jobs = [sendEmail, cleanupOldRecords, expireCoupons, dailyReport, ping, syncTenant, syncTenantUnlimited, callPartner, refreshCache, reindexTenant, keyedBadly, witness] as const;

/** Run once per release (RELEASE), in this order, before schedules fire. */
export const initTasks = [migrateDatabase] as const;

export type JobName = JobNameOf<typeof jobs>;
export type JobData<Name extends JobName> = JobDataOf<typeof jobs, Name>;

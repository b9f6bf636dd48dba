import { defineJob, type JobDefinition, type ScheduleDeclaration } from '@drumline/core/runtime';
import { z } from 'zod';

const JOBS = 100;

/**
 * `count` code-defined schedules spread over 100 jobs, as a large deployment might declare them:
 * a third `every` 1-60 minutes, a third hourly crons in UTC, a third daily crons in Europe/Berlin,
 * of which one in ten is instead a cron that fires every few years in a DST zone (the leader must
 * not pay for those on every pass).
 */
export function generatedSchedules(count: number): { job: string; schedule: ScheduleDeclaration<{ n: number }> }[] {
  return Array.from({ length: count }, (_, index) => {
    const job = `scale-job-${String(index % JOBS).padStart(3, '0')}`;
    const id = `scale-${String(index).padStart(5, '0')}`;
    const data = { n: index };
    const minute = index % 60;
    const schedule: ScheduleDeclaration<{ n: number }> =
      index % 3 === 0
        ? { id, every: `${minute + 1}m`, data }
        : index % 3 === 1
          ? { id, cron: `${minute} * * * *`, data }
          : index % 30 === 2
            ? { id, cron: index % 60 === 2 ? `${minute} 9 * 2 1#5` : `${minute} ${index % 24} 29 2 *`, tz: index % 4 === 0 ? 'Australia/Lord_Howe' : 'America/New_York', data }
            : { id, cron: `${minute} ${index % 24} * * *`, tz: 'Europe/Berlin', data };
    return { job, schedule };
  });
}

/** The job list of a deployment with `count` code-defined schedules: jobs whose handlers do nothing. */
export function generatedJobs(count: number): JobDefinition[] {
  const byJob = new Map<string, ScheduleDeclaration<{ n: number }>[]>();
  for (const { job, schedule } of generatedSchedules(count)) byJob.set(job, [...(byJob.get(job) ?? []), schedule]);
  return [...byJob].map(([name, schedules]) =>
    defineJob({ name, schema: z.object({ n: z.number().int() }), schedules, handler: () => undefined }),
  );
}

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob, type JobDefinitionInput } from './define-job.js';
import { JobDefinitionError } from './errors/index.js';
import { jobOptionsFor } from './queues.js';
import { scheduleInputSchema } from './schedule-record.js';
import type { ScheduleDeclaration } from './schedule-spec.js';

const emailSchema = z.object({ to: z.email(), subject: z.string().default('hello') });

function emailJob(overrides: Partial<JobDefinitionInput<string, typeof emailSchema>> = {}) {
  return defineJob({ name: 'send-email', schema: emailSchema, handler: () => undefined, ...overrides });
}

/** A schedule the declared type forbids (JavaScript callers and casts can still pass one). */
function untypedSchedule(schedule: Record<string, unknown>): ScheduleDeclaration<z.input<typeof emailSchema>> {
  return { id: 'nightly', data: { to: 'a@example.com' }, ...schedule } as unknown as ScheduleDeclaration<z.input<typeof emailSchema>>;
}

/** The JobDefinitionError that `define` throws; fails the test when it throws nothing or something else. */
function definitionError(define: () => unknown): JobDefinitionError {
  try {
    define();
  } catch (error) {
    expect(error).toBeInstanceOf(JobDefinitionError);
    return error as JobDefinitionError;
  }
  throw new Error('expected a JobDefinitionError, but the definition was accepted');
}

describe('defineJob', () => {
  it('fills in the default queue, retry, timeout and retention policy', () => {
    const job = emailJob();

    expect(job).toMatchObject({
      name: 'send-email',
      queue: 'default',
      schema: emailSchema,
      attempts: 3,
      backoff: { type: 'exponential', delayMs: 1000 },
      timeoutMs: 5 * 60_000,
      retention: { completed: { ageSeconds: 24 * 3600, count: 1000 }, failed: { ageSeconds: 7 * 24 * 3600 } },
      schedules: [],
    });
    expect(job.retention.failed.count).toBeUndefined();
  });

  it('turns the default policy into BullMQ options: 3 attempts, exponential from 1 s, keep 24 h/1000 completed and 7 days failed', () => {
    expect(jobOptionsFor(emailJob())).toEqual({
      attempts: 3,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 86_400, count: 1000 },
      removeOnFail: { age: 604_800 },
    });
  });

  it('keeps the options it is given and merges partial retention with the defaults', () => {
    const job = emailJob({
      queue: 'email',
      attempts: 5,
      backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 30_000,
      retention: { completed: { count: 50 }, failed: { count: 10 } },
    });

    expect(job).toMatchObject({
      queue: 'email',
      attempts: 5,
      backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 30_000,
      retention: { completed: { ageSeconds: 86_400, count: 50 }, failed: { ageSeconds: 604_800, count: 10 } },
    });
  });

  it('returns a definition frozen all the way down, so no app can change a policy at run time', () => {
    const job = emailJob({ schedules: [{ id: 'nightly', cron: '0 3 * * *', data: { to: 'a@example.com' } }] });

    expect(Object.isFrozen(job)).toBe(true);
    expect(Object.isFrozen(job.backoff)).toBe(true);
    expect(Object.isFrozen(job.retention)).toBe(true);
    expect(Object.isFrozen(job.retention.completed)).toBe(true);
    expect(Object.isFrozen(job.retention.failed)).toBe(true);
    expect(Object.isFrozen(job.schedules)).toBe(true);
    expect(Object.isFrozen(job.schedules[0])).toBe(true);
    expect(() => {
      (job as { attempts: number }).attempts = 10;
    }).toThrow(TypeError);
  });

  it('does not share the caller’s backoff object, so changing it later leaves the definition alone', () => {
    const backoff = { type: 'fixed' as const, delayMs: 500 };
    const job = emailJob({ backoff });

    backoff.delayMs = 9_000;

    expect(job.backoff.delayMs).toBe(500);
  });

  it.each(['Send-Email', 'send_email', '-send', '', 'a'.repeat(65)])('rejects the job name %j, naming the rule', (name) => {
    const error = definitionError(() => emailJob({ name }));

    expect(error.message).toContain(`job \`${name}\``);
    expect(error.message).toContain('lowercase letters, digits and dashes');
    expect(error.code).toBe('DRUMLINE_JOB_DEFINITION');
  });

  it.each(['bad queue', 'a:b', '_email', ''])('rejects the queue %j, naming the job and the queue', (queue) => {
    const error = definitionError(() => emailJob({ queue }));

    expect(error.message).toContain('job `send-email`');
    expect(error.message).toContain(`queue \`${queue}\``);
  });

  it.each([0, -1, 2.5])('rejects attempts %s: a job runs at least once', (attempts) => {
    const error = definitionError(() => emailJob({ attempts }));

    expect(error.message).toContain('job `send-email`');
    expect(error.message).toContain(`attempts must be a whole number of at least 1 (got ${attempts})`);
  });

  it('rejects a timeout of 0 ms', () => {
    expect(definitionError(() => emailJob({ timeoutMs: 0 })).message).toContain('timeoutMs must be a whole number of at least 1');
  });

  it('rejects a negative backoff delay', () => {
    expect(definitionError(() => emailJob({ backoff: { type: 'fixed', delayMs: -1 } })).message).toContain('backoff.delayMs');
  });

  describe('schedules', () => {
    it('keeps a valid schedule as declared', () => {
      const job = emailJob({
        schedules: [{ id: 'nightly', cron: '0 3 * * *', tz: 'Europe/Berlin', data: { to: 'a@example.com' }, overlap: 'skip' }],
      });

      expect(job.schedules).toEqual([{ id: 'nightly', cron: '0 3 * * *', tz: 'Europe/Berlin', data: { to: 'a@example.com' }, overlap: 'skip' }]);
    });

    it('keeps the checked timing on the schedule, so the scheduler does not validate it again, while it still serializes as declared', () => {
      const job = emailJob({ schedules: [{ id: 'often', every: '30m', data: { to: 'a@example.com' } }] });

      expect(job.schedules[0]?.timing).toEqual({ kind: 'every', everyMs: 1_800_000 });
      expect(JSON.parse(JSON.stringify(job.schedules[0]))).toEqual({ id: 'often', every: '30m', data: { to: 'a@example.com' } });
      expect(Object.isFrozen(job.schedules[0]?.timing)).toBe(true);
    });

    it('rejects a schedule with both cron and every, naming both', () => {
      const error = definitionError(() => emailJob({ schedules: [untypedSchedule({ cron: '0 3 * * *', every: '1h' })] }));

      expect(error.message).toContain('job `send-email`, schedule `nightly`');
      expect(error.message).toContain('exactly one of `cron`, `every` or `at` (found cron, every)');
    });

    it('rejects a schedule with no timing at all', () => {
      const error = definitionError(() => emailJob({ schedules: [untypedSchedule({})] }));

      expect(error.message).toContain('job `send-email`, schedule `nightly`');
      expect(error.message).toContain('(found none)');
    });

    it.each(['61 * * * *', '* * *', '0 3 * *', '0 0 3 * * * *', 'every day'])('rejects the cron %j with a message naming the job, the schedule and the cron', (cron) => {
      const error = definitionError(() => emailJob({ schedules: [{ id: 'nightly', cron, data: { to: 'a@example.com' } }] }));

      expect(error.message).toContain('job `send-email`, schedule `nightly`');
      expect(error.message).toContain(`cron \`${cron}\` is invalid`);
    });

    it('says which value of a cron is out of range, and the range', () => {
      const error = definitionError(() => emailJob({ schedules: [{ id: 'nightly', cron: '61 * * * *', data: { to: 'a@example.com' } }] }));

      expect(error.message).toMatch(/\b61\b.*\b0-59\b/);
    });

    it('says how many fields a cron with a field missing has, and how many it needs', () => {
      const error = definitionError(() => emailJob({ schedules: [{ id: 'nightly', cron: '0 3 * *', data: { to: 'a@example.com' } }] }));

      expect(error.message).toContain('it has 4 fields; write 5 (minute hour day-of-month month day-of-week), or 6 with seconds first');
    });

    it.each(['0 3 * * *', ' 0 3 * * 1-5 ', '0 0 3 * * *', '@daily'])('accepts the cron %j', (cron) => {
      expect(emailJob({ schedules: [{ id: 'nightly', cron, data: { to: 'a@example.com' } }] }).schedules).toHaveLength(1);
    });

    it('rejects a time zone that is not an IANA name', () => {
      const error = definitionError(() =>
        emailJob({ schedules: [{ id: 'nightly', cron: '0 3 * * *', tz: 'Mars/Olympus_Mons', data: { to: 'a@example.com' } }] }),
      );

      expect(error.message).toContain('job `send-email`, schedule `nightly`');
      expect(error.message).toContain('time zone `Mars/Olympus_Mons` is not an IANA zone name');
    });

    it.each([999, 0, 1500.5, '500ms', '0s', 'soon', ''])('rejects every %j: at least 1 s, whole ms, or a duration ms() understands', (every) => {
      const error = definitionError(() => emailJob({ schedules: [{ id: 'often', every, data: { to: 'a@example.com' } }] }));

      expect(error.message).toContain('job `send-email`, schedule `often`');
      expect(error.message).toContain(`every \`${every}\` must be a whole number of ms from 1000`);
    });

    it.each([1000, '1s', '30m'])('accepts every %j', (every) => {
      expect(emailJob({ schedules: [{ id: 'often', every, data: { to: 'a@example.com' } }] }).schedules).toHaveLength(1);
    });

    it.each(['tomorrow morning', '', new Date('nope')])('rejects at %s: not a date', (at) => {
      const error = definitionError(() => emailJob({ schedules: [{ id: 'once', at, data: { to: 'a@example.com' } }] }));

      expect(error.message).toContain('job `send-email`, schedule `once`');
      expect(error.message).toContain('is not a date');
    });

    it('rejects schedule data that does not satisfy the job’s schema, naming the job, the schedule and the field', () => {
      const error = definitionError(() => emailJob({ schedules: [{ id: 'nightly', every: '1h', data: { to: 'not-an-address' } }] }));

      expect(error.message).toContain('job `send-email`, schedule `nightly`');
      expect(error.message).toContain("its data does not satisfy the job's schema");
      expect(error.message).toMatch(/\bto: /);
    });

    it('checks a schedule without data as if its data were {}, so a required field is reported', () => {
      const error = definitionError(() => emailJob({ schedules: [{ id: 'nightly', every: '1h' }] }));

      expect(error.message).toContain('job `send-email`, schedule `nightly`');
      expect(error.message).toMatch(/\bto: /);
    });

    it('rejects a schedule id declared twice within a job, naming the id', () => {
      const error = definitionError(() =>
        emailJob({
          schedules: [
            { id: 'nightly', cron: '0 3 * * *', data: { to: 'a@example.com' } },
            { id: 'nightly', every: '1h', data: { to: 'b@example.com' } },
          ],
        }),
      );

      expect(error.message).toContain('job `send-email`');
      expect(error.message).toContain('schedule id `nightly` is declared twice');
    });

    it.each(['has space', 'a@b', '-leading', 'a:b'])('rejects the schedule id %j', (id) => {
      const error = definitionError(() => emailJob({ schedules: [{ id, every: '1h', data: { to: 'a@example.com' } }] }));

      expect(error.message).toContain(`schedule id \`${id}\``);
    });

    it('rejects a misfireCap of 0', () => {
      const error = definitionError(() => emailJob({ schedules: [{ id: 'nightly', every: '1h', data: { to: 'a@example.com' }, misfireCap: 0 }] }));

      expect(error.message).toContain('job `send-email`, schedule `nightly`: misfireCap must be a whole number of at least 1');
    });
  });
});

describe('a code schedule is judged as the API judges one', () => {
  const schedule = (extra: object) => () =>
    defineJob({ name: 'judged', schema: z.object({}), handler: async () => undefined, schedules: [{ id: 's', every: '1h', ...extra }] });

  it.each([
    [{ misfireCap: 10_001 }, 'misfireCap must be at most 10000'],
    [{ misfireGraceMs: -1 }, 'misfireGraceMs must be a whole number'],
    [{ misfireGraceMs: 1.5 }, 'misfireGraceMs must be a whole number'],
    [{ jitterMs: 30_001 }, 'jitterMs must be a whole number of ms from 0 to 30000 (got 30001)'],
    [{ jitterMs: -1 }, 'jitterMs must be a whole number of ms from 0 to 30000 (got -1)'],
    [{ jitterMs: 0.5 }, 'jitterMs must be a whole number of ms from 0 to 30000 (got 0.5)'],
  ])(
    'refuses %j, which PUT /api/schedules refuses too',
    (extra, message) => {
      expect(schedule(extra)).toThrow(message);
      expect(scheduleInputSchema.safeParse({ job: 'judged', every: '1h', ...extra }).success).toBe(false);
    },
  );
});

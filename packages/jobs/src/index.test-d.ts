import type { JobContext } from '@drumline/core';
import { describe, expectTypeOf, it } from 'vitest';
import { cleanupOldRecords } from './cleanup-old-records.js';
import type { JobData, JobName } from './index.js';
import { sendEmail } from './send-email.js';

describe('types derived from the jobs list', () => {
  it('JobName is the union of the job names, and nothing else', () => {
    expectTypeOf<JobName>().toEqualTypeOf<'send-email' | 'cleanup-old-records' | 'expire-coupons' | 'daily-report' | 'ping'>();
  });

  it('JobData of send-email is its schema’s input: `to` required, `replyTo` optional', () => {
    expectTypeOf<JobData<'send-email'>>().toEqualTypeOf<{ to: string; subject: string; body: string; replyTo?: string | undefined }>();
    expectTypeOf<JobData<'send-email'>>().toHaveProperty('to').toEqualTypeOf<string>();
  });

  it('JobData leaves a field with a default optional, since the caller may omit it', () => {
    expectTypeOf<JobData<'cleanup-old-records'>>().toEqualTypeOf<{
      table: 'sessions' | 'password_resets' | 'audit_log';
      olderThanDays: number;
      batchSize?: number | undefined;
    }>();
  });

  it('JobData refuses a name that is not a job', () => {
    // @ts-expect-error `send-sms` is not in the jobs list
    expectTypeOf<JobData<'send-sms'>>().toBeNever();
  });
});

describe('a handler’s parameters', () => {
  it('gets the schema’s output: a field with a default is present, not optional', () => {
    type CleanupData = Parameters<typeof cleanupOldRecords.handler>[0];

    expectTypeOf<CleanupData>().toEqualTypeOf<{
      table: 'sessions' | 'password_resets' | 'audit_log';
      olderThanDays: number;
      batchSize: number;
    }>();
  });

  it('gets the parsed email payload and the job context', () => {
    expectTypeOf(sendEmail.handler).parameter(0).toEqualTypeOf<{ to: string; subject: string; body: string; replyTo?: string | undefined }>();
    expectTypeOf(sendEmail.handler).parameter(1).toEqualTypeOf<JobContext>();
  });

  it('keeps the literal job name on the definition', () => {
    expectTypeOf(sendEmail.name).toEqualTypeOf<'send-email'>();
  });
});

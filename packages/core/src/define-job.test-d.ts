import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { defineJob, type JobContext, type JobDataOf, type JobNameOf } from './index.js';

// Fixture jobs of the framework's own: packages/jobs belongs to the user, and a type test there
// that names the example jobs would break the first time a user adds or removes one.
const notify = defineJob({
  name: 'notify',
  schema: z.object({ to: z.email(), subject: z.string(), replyTo: z.email().optional() }),
  async handler() {},
});

const purge = defineJob({
  name: 'purge',
  schema: z.object({ table: z.enum(['a', 'b']), olderThanDays: z.number(), batchSize: z.number().default(1000) }),
  async handler() {},
});

type FixtureJobs = readonly [typeof notify, typeof purge];
type Name = JobNameOf<FixtureJobs>;
type Data<N extends Name> = JobDataOf<FixtureJobs, N>;

describe('types derived from a jobs list', () => {
  it('JobNameOf is the union of the job names, and nothing else', () => {
    expectTypeOf<Name>().toEqualTypeOf<'notify' | 'purge'>();
  });

  it('JobDataOf is the schema’s input: required fields required, optional ones optional', () => {
    expectTypeOf<Data<'notify'>>().toEqualTypeOf<{ to: string; subject: string; replyTo?: string | undefined }>();
  });

  it('JobDataOf leaves a field with a default optional, since the caller may omit it', () => {
    expectTypeOf<Data<'purge'>>().toEqualTypeOf<{ table: 'a' | 'b'; olderThanDays: number; batchSize?: number | undefined }>();
  });

  it('JobDataOf refuses a name that is not a job', () => {
    // @ts-expect-error `send-sms` is not in the jobs list
    expectTypeOf<Data<'send-sms'>>().toBeNever();
  });
});

describe('a handler’s parameters', () => {
  it('gets the schema’s output: a field with a default is present, not optional', () => {
    expectTypeOf(purge.handler).parameter(0).toEqualTypeOf<{ table: 'a' | 'b'; olderThanDays: number; batchSize: number }>();
  });

  it('gets the job context', () => {
    expectTypeOf(notify.handler).parameter(1).toEqualTypeOf<JobContext>();
  });

  it('keeps the literal job name on the definition', () => {
    expectTypeOf(notify.name).toEqualTypeOf<'notify'>();
  });
});

describe('flow-control key functions', () => {
  it('take the payload as the schema outputs it, defaults filled in, and must return a string', () => {
    defineJob({
      name: 'keyed',
      schema: z.object({ tenantId: z.string(), region: z.string().default('eu') }),
      concurrency: {
        limit: 2,
        key: (data) => {
          expectTypeOf(data).toEqualTypeOf<{ tenantId: string; region: string }>();
          return data.tenantId;
        },
      },
      rateLimit: { max: 10, perMs: 1000, key: (data) => data.region },
      dedupe: { key: (data) => data.tenantId, ttlMs: 60_000 },
      async handler() {},
    });
    defineJob({
      name: 'keyed-wrong',
      schema: z.object({ count: z.number() }),
      // @ts-expect-error a key is a string, not a number
      debounce: { key: (data) => data.count, waitMs: 1000 },
      async handler() {},
    });
  });
});

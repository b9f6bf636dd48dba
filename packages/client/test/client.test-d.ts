import { defineJob, type JobDefinition } from '@drumline/core';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { createClient, type DrumlineClient, type EnqueuedRun, type Run } from '../src/index.js';

// Fixture jobs of the client's own: packages/jobs belongs to the user, and a type test that named
// its example jobs would break the first time a user adds or removes one. Only their types are used,
// as a service's `import type { jobs } from '@drumline/jobs'` would.
export const notify = defineJob({ name: 'notify', schema: z.object({ to: z.email(), subject: z.string(), replyTo: z.email().optional() }), handler: () => undefined });
export const purge = defineJob({ name: 'purge', schema: z.object({ table: z.enum(['a', 'b']), batchSize: z.number().default(1000) }), handler: () => undefined });
/** What `typeof jobs` is for `export const jobs = [notify, purge] as const`. */
type FixtureJobs = readonly [typeof notify, typeof purge];

declare const client: DrumlineClient<FixtureJobs>;

describe('createClient<typeof jobs>', () => {
  it('returns a client typed by the jobs list', () => {
    expectTypeOf(createClient<FixtureJobs>).returns.toEqualTypeOf<DrumlineClient<FixtureJobs>>();
  });

  it('takes the job names of the list, and no other', () => {
    expectTypeOf(client.enqueue).parameter(0).toEqualTypeOf<'notify' | 'purge'>();
    // @ts-expect-error `send-sms` is not in the jobs list
    void client.enqueue('send-sms', {});
  });

  it("takes the named job's payload: its schema's input, so a field with a default may be left out", () => {
    void client.enqueue('notify', { to: 'a@example.com', subject: 'Hi' });
    void client.enqueue('purge', { table: 'a' });
    // @ts-expect-error `subject` is required by notify's schema
    void client.enqueue('notify', { to: 'a@example.com' });
    // @ts-expect-error `table` is one of 'a' | 'b'
    void client.enqueue('purge', { table: 'c' });
    // @ts-expect-error purge's payload is not notify's
    void client.enqueue('purge', { to: 'a@example.com', subject: 'Hi' });
  });

  it('answers with the enqueued run, its name narrowed to the job', () => {
    expectTypeOf(client.enqueue('notify', { to: 'a@example.com', subject: 'Hi' })).resolves.toEqualTypeOf<EnqueuedRun<'notify'>>();
  });

  it("types each bulk item's payload by the job", () => {
    void client.bulk('purge', [{ data: { table: 'a' } }, { data: { table: 'b', batchSize: 10 }, opts: { jobId: 'x' } }]);
    // @ts-expect-error an item's payload fails purge's schema
    void client.bulk('purge', [{ data: { table: 1 } }]);
  });

  it("types a run's data as the job's payload", () => {
    expectTypeOf(client.getRun('notify', 'id')).resolves.toEqualTypeOf<Run<{ to: string; subject: string; replyTo?: string | undefined }, 'notify'>>();
    expectTypeOf(client.waitForRun('purge', 'id')).resolves.toHaveProperty('data').toEqualTypeOf<{ table: 'a' | 'b'; batchSize?: number | undefined }>();
  });

  it('checks the job name of run control too', () => {
    // @ts-expect-error `send-sms` is not in the jobs list
    void client.cancel('send-sms', 'id');
    // @ts-expect-error `send-sms` is not in the jobs list
    void client.retry('send-sms', 'id');
  });
});

describe('createClient without a jobs list', () => {
  it('takes any job name and payload, for the API to check', () => {
    const untyped = createClient({ url: 'http://localhost:3000', token: 't' });
    expectTypeOf(untyped).toEqualTypeOf<DrumlineClient<readonly JobDefinition[]>>();
    expectTypeOf(untyped.enqueue).parameter(0).toEqualTypeOf<string>();
    void untyped.enqueue('any-job', { any: 'payload' });
    expectTypeOf(untyped.getRun('any-job', 'id')).resolves.toHaveProperty('data').toBeUnknown();
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from './define-job.js';
import { flowKey, MAX_FLOW_KEY_LENGTH } from './flow-policy.js';

const schema = z.object({ tenantId: z.string() });
const handler = () => undefined;

describe('flow control on defineJob', () => {
  it('keeps what is declared, keying a limit without `key` on the whole job', () => {
    const job = defineJob({ name: 'limited', schema, handler, concurrency: { limit: 3 }, rateLimit: { max: 10, perMs: 1000, key: (data) => data.tenantId } });
    expect(job.flow.concurrency).toMatchObject({ limit: 3, keyed: false });
    expect(job.flow.concurrency?.key({ tenantId: 'a' })).toBe('*');
    expect(job.flow.rateLimit).toMatchObject({ limit: 10, windowMs: 1000, keyed: true });
    expect(job.flow.rateLimit?.key({ tenantId: 'a' })).toBe('a');
    expect(Object.isFrozen(job.flow) && Object.isFrozen(job.flow.concurrency)).toBe(true);
    expect(defineJob({ name: 'unlimited', schema, handler }).flow).toEqual({});
  });

  it.each([
    [{ concurrency: { limit: 0 } }, 'concurrency.limit must be a whole number from 1 to 10000 (got 0)'],
    [{ concurrency: { limit: 1.5 } }, 'concurrency.limit must be a whole number from 1 to 10000 (got 1.5)'],
    [{ concurrency: { limit: 2, key: 'tenantId' } }, 'concurrency.key must be a function of the payload returning a string'],
    [{ rateLimit: { max: 10, perMs: 0 } }, 'rateLimit.perMs must be a whole number from 1 to 86400000 (got 0)'],
    [{ rateLimit: { max: 10_001, perMs: 1000 } }, 'rateLimit.max must be a whole number from 1 to 10000 (got 10001)'],
    [{ dedupe: { ttlMs: 1000 } }, 'dedupe.key must be a function of the payload returning a string'],
    [{ debounce: { key: (): string => 'k', waitMs: -1 } }, 'debounce.waitMs must be a whole number from 1 to 86400000 (got -1)'],
    [{ dedupe: { key: (): string => 'k', ttlMs: 1000 }, debounce: { key: (): string => 'k', waitMs: 1000 } }, 'declare dedupe or debounce, not both'],
  ])('refuses %j at definition, naming the job and the field', (flow, message) => {
    expect(() => defineJob({ name: 'badly-limited', schema, handler, ...(flow as object) })).toThrow(
      expect.objectContaining({ code: 'DRUMLINE_JOB_DEFINITION', message: expect.stringContaining(`job \`badly-limited\`: ${message}`) }),
    );
  });
});

describe('flowKey', () => {
  const key = (value: unknown) => () => value as string;
  it('returns the string a key function gives', () => {
    expect(flowKey('j', 'dedupe', key('tenant-1'), {})).toBe('tenant-1');
    expect(flowKey('j', 'dedupe', key('x'.repeat(MAX_FLOW_KEY_LENGTH)), {})).toHaveLength(MAX_FLOW_KEY_LENGTH);
  });

  it.each([
    [undefined, 'returned undefined, not a string'],
    [null, 'returned null, not a string'],
    [7, 'returned number, not a string'],
    ['', 'returned a string of 0 characters; a key has 1-256'],
    ['x'.repeat(MAX_FLOW_KEY_LENGTH + 1), 'returned a string of 257 characters; a key has 1-256'],
  ])('refuses %j with a 400-class error naming the job, the control and the path', (value, reason) => {
    expect(() => flowKey('j', 'concurrency', key(value), {}, 'items.3.data')).toThrow(
      expect.objectContaining({ code: 'DRUMLINE_INVALID_FLOW_KEY', message: `job \`j\`: concurrency.key of items.3.data ${reason}`, issues: [{ path: 'items.3.data', message: `concurrency.key ${reason}` }] }),
    );
  });

  it('reports what a throwing key function threw', () => {
    const throwing = () => {
      throw new Error('no tenant');
    };
    expect(() => flowKey('j', 'rateLimit', throwing, {})).toThrow('job `j`: rateLimit.key of data threw: no tenant');
  });
});

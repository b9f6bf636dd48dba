import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { isJobId, isRunId, isScheduleId, MAX_JOB_ID_LENGTH, MAX_RUN_ID_LENGTH, MAX_SCHEDULE_ID_LENGTH } from './ids.js';
import { initRunId } from './define-init-task.js';
import { manualRunId, scheduledRunId } from './scheduled-run-id.js';

const alnum = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const idChar = fc.constantFrom(...`${alnum}._-`);
const scheduleIds = fc.tuple(fc.constantFrom(...alnum), fc.string({ unit: idChar, maxLength: MAX_SCHEDULE_ID_LENGTH - 1 })).map(([first, rest]) => first + rest);
// Any tick a Date can hold: up to 8.64e15 ms, 16 digits.
const ticks = fc.integer({ min: 0, max: 8.64e15 });

describe('schedule ids', () => {
  it.each(['a', 'expire-coupons-nightly', 'A.b_c-9', 'x'.repeat(MAX_SCHEDULE_ID_LENGTH)])('takes %j', (id) => {
    expect(isScheduleId(id)).toBe(true);
  });

  it.each(['', '-lead', '.lead', 'has space', 'team@berlin', 'a:b', 'a/b', 'é', 'a\ud800', 'x'.repeat(MAX_SCHEDULE_ID_LENGTH + 1)])('refuses %j', (id) => {
    expect(isScheduleId(id)).toBe(false);
  });
});

describe('job ids, the ones a caller gives', () => {
  it.each(['welcome-42', 'a', '0123abc', 'x1', 'x'.repeat(MAX_JOB_ID_LENGTH), '8f14e45f-ceea-467f-a0e2-1a1f5cc7a6c5'])('takes %j', (id) => {
    expect(isJobId(id)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['digits only (BullMQ numbers its own runs that way)', '42'],
    ["with ':' (BullMQ's key separator)", 'user:42'],
    ["with '@' (a schedule's run id)", 'nightly@1700000000000'],
    ['with a lone high surrogate', 'order-\ud800'],
    ['with a lone low surrogate', 'order-\udc00'],
    ['with an emoji (a surrogate pair)', 'order-\u{1F600}'],
    ['with a space', 'order 42'],
    ['with a newline', 'order\n42'],
    ['starting with a dash', '-42'],
    ['one character too long', 'x'.repeat(MAX_JOB_ID_LENGTH + 1)],
  ])('refuses one %s', (_what, id) => {
    expect(isJobId(id)).toBe(false);
  });
});

describe('run ids', () => {
  test.prop([scheduleIds, ticks])('every id a schedule makes for its ticks and its manual runs is a run id, never a job id, and fits MAX_RUN_ID_LENGTH', (id, tick) => {
    for (const runId of [scheduledRunId(id, tick), manualRunId(id, tick)]) {
      expect(isRunId(runId)).toBe(true);
      expect(isJobId(runId)).toBe(false);
      expect(runId.length).toBeLessThanOrEqual(MAX_RUN_ID_LENGTH);
    }
  });

  test.prop([fc.string({ unit: idChar, minLength: 1, maxLength: MAX_JOB_ID_LENGTH })])('every job id is a run id', (id) => {
    fc.pre(isJobId(id));
    expect(isRunId(id)).toBe(true);
  });

  it("takes BullMQ's numbers and the init tasks' ids", () => {
    expect(isRunId('1')).toBe(true);
    expect(isRunId('123456789')).toBe(true);
    expect(isRunId(initRunId('migrate-database', 'v1.2.3'))).toBe(true);
  });

  it.each(['', 'a:b', '@1700000000000', 'nightly@', 'nightly@soon', 'nightly@1.manual.manual', 'a\ud800@1', `${'x'.repeat(MAX_SCHEDULE_ID_LENGTH + 1)}@1`, 'x'.repeat(MAX_RUN_ID_LENGTH + 1)])(
    'refuses %j',
    (id) => {
      expect(isRunId(id)).toBe(false);
    },
  );
});

import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { decodeLedgerTick, encodeTickEvent, MAX_REASON_LENGTH, memberRan, memberTick } from './tick-codec.js';
import { summarizeTick } from './tick-summary.js';
import { propertyRuns as numRuns, propertySeed as seed, tickEventArbitrary } from './tick-event.arbitrary.js';

const tick = fc.integer({ min: 0, max: 4_102_444_800_000 });

describe('the tick ledger codec', () => {
  test.prop([tick.chain((at) => fc.tuple(fc.constant(at), fc.array(tickEventArbitrary(at), { maxLength: 8 })))], { numRuns, seed })(
    'reads back every event of a tick as written, whatever text workers and reasons hold (spaces, `|`, `%`, emoji), an attempt\'s end by the worker that started it',
    ([at, events]) => {
      const member = [String(at), ...events.map((event) => encodeTickEvent(at, event))].join(' ');
      const startedBy = new Map(events.flatMap((event) => (event.kind === 'started' ? [[event.attempt, event.worker] as const] : [])));
      const ends = ['completed', 'failed', 'requeued'];
      const expected = events.map((event) => ('attempt' in event && ends.includes(event.kind) ? { ...event, worker: startedBy.get(event.attempt) ?? '' } : event));
      expect(decodeLedgerTick(member)).toEqual({ tick: at, events: expected });
    },
  );

  test.prop([tick.chain((at) => fc.tuple(fc.constant(at), fc.array(tickEventArbitrary(at), { maxLength: 8 })))], { numRuns, seed })(
    'tells a member that ran, and its tick, without decoding it, as decoding and summarizing it would',
    ([at, events]) => {
      const member = [String(at), ...events.map((event) => encodeTickEvent(at, event))].join(' ');
      expect(memberRan(member)).toBe(summarizeTick(decodeLedgerTick(member)).state === 'ran');
      expect(memberTick(member)).toBe(at);
    },
  );

  test.prop([tick, fc.string({ unit: 'binary', minLength: MAX_REASON_LENGTH + 1, maxLength: 400 })], { numRuns, seed })(
    'keeps the first 200 characters of a long failure reason, a lone surrogate made U+FFFD, never throwing',
    (at, reason) => {
      const event = { kind: 'failed', at, attempt: 1, worker: '', retry: false, reason } as const;
      const [decoded] = decodeLedgerTick(`${at} ${encodeTickEvent(at, event)}`).events;
      const expected = Array.from(reason.replace(/\p{Cs}/gu, '\uFFFD')).slice(0, MAX_REASON_LENGTH).join('');
      expect(decoded).toEqual({ ...event, reason: expected });
    },
  );

  it('leaves out an event it cannot read (a newer writer\'s) and keeps the others', () => {
    const started = encodeTickEvent(1000, { kind: 'started', at: 1010, attempt: 1, worker: 'w' });
    expect(decodeLedgerTick(`1000 z5|new ${started} k3|w|unknown-reason`).events).toEqual([{ kind: 'started', at: 1010, attempt: 1, worker: 'w' }]);
  });
});

import { fc } from '@fast-check/vitest';
import { CronExpressionParser } from 'cron-parser';
import { describe, expect, it } from 'vitest';
import { normalizeTiming } from '../schedule-spec.js';
import { cronSyntaxProblem } from './cron-syntax.js';

// CI runs a fixed seed; DRUMLINE_PROPERTY_RUNS=5000 (and DRUMLINE_PROPERTY_SEED) run far more.
const RUNS = Number(process.env.DRUMLINE_PROPERTY_RUNS ?? 400);
const SEED = Number(process.env.DRUMLINE_PROPERTY_SEED ?? 20261201);
const options = { seed: SEED, numRuns: RUNS, endOnFailure: true };

interface Field {
  name: string;
  min: number;
  max: number;
  /** The largest value a cron may write: 7 on days of week, which is Sunday again. */
  last: number;
  names: readonly string[];
}
const SECONDS: Field = { name: 'seconds', min: 0, max: 59, last: 59, names: [] };
const FIVE: readonly Field[] = [
  { name: 'minutes', min: 0, max: 59, last: 59, names: [] },
  { name: 'hours', min: 0, max: 23, last: 23, names: [] },
  { name: 'days of month', min: 1, max: 31, last: 31, names: [] },
  { name: 'months', min: 1, max: 12, last: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'days of week', min: 0, max: 6, last: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

/**
 * The reference: reads each bound by trying every value the field can write, lists the days,
 * hours, ... the base covers, and refuses a step larger than their number. A bound it cannot
 * read, or a reversed range, is cron-parser's to refuse.
 */
function referenceProblem(field: Field, base: string, step: number): string | undefined {
  const written: number[] = [];
  for (let value = field.min; value <= field.last; value += 1) written.push(value);
  const read = (text: string) =>
    written.find((value) => (/^[0-9]+$/.test(text) && Number(text) === value) || field.names[value - field.min] === text.toLowerCase());
  const bounds = base.split('-');
  let covered: number[];
  if (base === '*' || base === '?') {
    covered = written;
  } else if (bounds.length === 1 || bounds.length === 2) {
    const from = read(bounds[0] as string);
    const to = bounds.length === 2 ? read(bounds[1] as string) : field.last;
    if (from === undefined || to === undefined || to < from) return undefined;
    covered = written.filter((value) => value >= from && value <= to);
  } else {
    return undefined;
  }
  // Days of week 7 and 0 are the same day.
  const values = new Set(covered.map((value) => (value > field.max ? value - field.max - 1 + field.min : value)));
  if (step <= values.size) return undefined;
  return `${field.name} \`${base}/${step}\` steps by ${step}, more than the ${values.size} value(s) it steps over (${field.name} run ${field.min}-${field.max}), so it would fire only at its first value; use a smaller step or an \`every\` schedule`;
}

const anyCase = (word: string) =>
  fc.array(fc.boolean(), { minLength: word.length, maxLength: word.length }).map((upper) => [...word].map((letter, i) => (upper[i] ? letter.toUpperCase() : letter)).join(''));

/** A bound of a step's base: a value inside the field or just outside it, a name in any case, or something unreadable. */
const bound = (field: Field) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: field.min, max: field.last }).map(String) },
    { weight: 2, arbitrary: fc.integer({ min: Math.max(0, field.min - 2), max: field.last + 3 }).map(String) },
    { weight: field.names.length > 0 ? 4 : 0, arbitrary: fc.constantFrom(...(field.names.length > 0 ? field.names : ['-'])).chain(anyCase) },
    { weight: 1, arbitrary: fc.integer({ min: field.min, max: field.last }).map((value) => `0${value}`) },
    { weight: 1, arbitrary: fc.constantFrom('0x10', '1e1', '1.5', '+5', 'x5', '5x', '', 'l', 'w', '?', '*') },
  );
const base = (field: Field) =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom('*', '?') },
    { weight: 2, arbitrary: bound(field) },
    { weight: 5, arbitrary: fc.tuple(bound(field), bound(field)).map(([from, to]) => `${from}-${to}`) },
  );
/** Fields may be set apart by any run of spaces and tabs, as cron-parser reads them. */
const gap = fc.constantFrom(' ', ' ', '  ', '\t', ' \t ');
const joined = (fields: string[]) => fc.array(gap, { minLength: fields.length, maxLength: fields.length }).map((gaps) => fields.map((text, i) => (i === 0 ? text : `${gaps[i]}${text}`)).join(''));

/** A step part in one field of a 5- or 6-field cron whose other fields are `*`. */
const stepPart = fc
  .record({ seconds: fc.boolean(), pick: fc.nat(), listed: fc.boolean() })
  .chain(({ seconds, pick, listed }) => {
    const fields = seconds ? [SECONDS, ...FIVE] : FIVE;
    const index = pick % fields.length;
    const field = fields[index] as Field;
    const span = field.max - field.min + 1;
    const step = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: span + 2 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) });
    return fc.tuple(base(field), step).chain(([from, by]) => {
      const part = `${from}/${by}`;
      return joined(fields.map((_, i) => (i === index ? (listed ? `${field.min},${part}` : part) : '*'))).map((cron) => ({ field, base: from, step: by, cron }));
    });
  });

const parses = (cron: string) => {
  try {
    CronExpressionParser.parse(cron);
    return true;
  } catch {
    return false;
  }
};

describe('cronSyntaxProblem against a reference that counts the values a step covers', () => {
  it('refuses exactly the steps larger than the values their base covers, naming field, part, step and count', () => {
    fc.assert(
      fc.property(stepPart, ({ field, base, step, cron }) => {
        expect(cronSyntaxProblem(cron)).toBe(referenceProblem(field, base, step));
      }),
      options,
    );
  });

  it('lets normalizeTiming accept what it accepts and cron-parser reads, and refuse what it refuses with its message', () => {
    fc.assert(
      fc.property(stepPart, ({ field, base, step, cron }) => {
        const problem = referenceProblem(field, base, step);
        if (problem !== undefined) {
          expect(() => normalizeTiming({ cron }, 'schedule `s`')).toThrow(`schedule \`s\`: cron \`${cron}\` is invalid: ${problem}`);
        } else if (parses(cron)) {
          expect(normalizeTiming({ cron }, 'schedule `s`')).toMatchObject({ kind: 'cron', cron });
        }
      }),
      options,
    );
  });

  it('refuses a cron of other than 5 or 6 fields, however they are spaced, as a field left out would shift the others', () => {
    const cron = fc
      .tuple(fc.array(fc.constantFrom('0', '3', '*', '1-5', '*/2'), { minLength: 1, maxLength: 8 }), gap, gap)
      .chain(([fields, before, after]) => joined(fields).map((text) => ({ count: fields.length, cron: `${before}${text}${after}` })));
    fc.assert(
      fc.property(cron, ({ count, cron }) => {
        const expected =
          count === 5 || count === 6 ? undefined : `it has ${count} fields; write 5 (minute hour day-of-month month day-of-week), or 6 with seconds first`;
        expect(cronSyntaxProblem(cron)).toBe(expected);
      }),
      options,
    );
  });

  it.each([
    ['0 0 * * 5-7/3', 'Friday to Sunday is 3 days: a step of 3 fires on Friday only, as */7 fires on Sunday only'],
    ['0 0 * * MON/7', 'Monday to Sunday (7) is 7 days'],
    ['0 0 1 FEB/11 *', 'February to December is 11 months'],
  ])('accepts %s: %s', (cron) => {
    expect(normalizeTiming({ cron }, 'schedule `s`')).toMatchObject({ kind: 'cron', cron });
  });

  it.each([
    ['70/5 * * * *', 'Invalid range: 70-59'],
    ['50-70/15 * * * *', 'Constraint error, got range 50-70 expected range 0-59'],
    ['0 30/5 * * *', 'Invalid range: 30-23'],
  ])('refuses %s naming the value outside its field, not its step', (cron, why) => {
    expect(cronSyntaxProblem(cron)).toBeUndefined();
    expect(() => normalizeTiming({ cron }, 'schedule `s`')).toThrow(why);
  });
});

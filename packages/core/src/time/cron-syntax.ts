/**
 * Checks cron-parser lets through but that would silently change what a cron means.
 * Returns what is wrong, or undefined.
 */
export function cronSyntaxProblem(cron: string): string | undefined {
  const written = cron.trim();
  if (written.startsWith('@')) return undefined;
  const fields = written.split(/\s+/);
  // cron-parser reads a short expression as if the leading fields were left out, so '0 3 * *'
  // (a field forgotten from '0 3 * * *') would silently fire every minute of hour 0 on the 3rd.
  if (fields.length !== 5 && fields.length !== 6) {
    return `it has ${fields.length} fields; write 5 (minute hour day-of-month month day-of-week), or 6 with seconds first`;
  }
  const ranges = fields.length === 6 ? [SECOND, ...FIVE_FIELDS] : FIVE_FIELDS;
  for (const [index, field] of fields.entries()) {
    const range = ranges[index] as FieldRange;
    for (const part of field.split(',')) {
      const step = /^(.*)\/(\d+)$/.exec(part);
      if (!step) continue;
      const size = stepSpan(step[1] as string, range);
      const by = Number(step[2]);
      if (size !== undefined && by > size) {
        return `${range.name} \`${part}\` steps by ${by}, more than the ${size} value(s) it steps over (${range.name} run ${range.min}-${range.max}), so it would fire only at its first value; use a smaller step or an \`every\` schedule`;
      }
    }
  }
  return undefined;
}

interface FieldRange {
  name: string;
  min: number;
  max: number;
  /** The largest value a cron may write, when above max: 7 on days of week, Sunday again. */
  last?: number;
  names?: readonly string[];
}

const SECOND: FieldRange = { name: 'seconds', min: 0, max: 59 };
const FIVE_FIELDS: readonly FieldRange[] = [
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'days of month', min: 1, max: 31 },
  { name: 'months', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  // 7 is Sunday again, so a week has 7 values to step over.
  { name: 'days of week', min: 0, max: 6, last: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

/** How many values `base` covers before its step applies (`*`, `a-b`, or `a` meaning a to the end). */
function stepSpan(base: string, range: FieldRange): number | undefined {
  const last = range.last ?? range.max;
  const value = (text: string) => {
    const named = range.names?.indexOf(text.toLowerCase()) ?? -1;
    if (named >= 0) return named + range.min;
    // A value outside the field is cron-parser's to refuse, naming the value, not the step.
    if (!/^\d+$/.test(text)) return undefined;
    const number = Number(text);
    return number >= range.min && number <= last ? number : undefined;
  };
  if (base === '*' || base === '?') return range.max - range.min + 1;
  const [low, high] = base.split('-');
  const from = low === undefined ? undefined : value(low);
  const to = high === undefined ? last : value(high);
  if (from === undefined || to === undefined || to < from) return undefined;
  // A week's 7 values at most: 0-7 writes Sunday twice.
  return Math.min(to - from + 1, range.max - range.min + 1);
}

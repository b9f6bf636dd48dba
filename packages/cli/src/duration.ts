import ms from 'ms';
import { UsageError } from './errors/usage-error.js';

/** A duration flag: whole ms (`1500`) or `ms`'s forms (`500ms`, `30s`, `5m`, `2h`). */
export function parseDuration(text: string, flag: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : safeMs(text);
  if (value === undefined || !Number.isFinite(value) || value < 0) {
    throw new UsageError(`${flag} \`${text}\` is not a duration: give ms (1500) or a duration such as 500ms, 30s, 5m, 2h`);
  }
  return Math.round(value);
}

function safeMs(text: string): number | undefined {
  try {
    return ms(text as ms.StringValue);
  } catch {
    return undefined;
  }
}

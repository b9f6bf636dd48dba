import { fc } from '@fast-check/vitest';
import { CronExpressionParser } from 'cron-parser';
import { it } from 'vitest';
import { PlainCron, referenceTicks, readingAt, transitionsIn } from './wall-clock-oracle.test-support.js';
const HOUR = 3_600_000, DAY = 24 * HOUR;
function oldTicks(cron: string, tz: string, after: number, until: number) {
  const c = CronExpressionParser.parse(cron, { tz }); c.reset(new Date(after)); const out: number[] = [];
  while (out.length < 10000 && c.hasNext()) { const n = c.next().getTime(); if (n > until) break; out.push(n); } return out;
}
it('old engine vs oracle', () => {
  const found = new Map<string, string>();
  const zones = Intl.supportedValuesOf('timeZone');
  const crons = ['30 2 * * *', '0 2 * * *', '0 0 * * *', '30 1 * * *', '0 * * * *', '*/30 * * * *', '15 3 * * *', '0 1 * * *', '45 23 * * *', '0 12 * * *'];
  let cases = 0, bad = 0;
  for (const zone of zones) for (const year of [1990, 2011, 2026]) for (const t of transitionsIn(zone, year)) for (const cron of crons) for (const shift of [-30 * HOUR, -1 * HOUR, 10 * 60000, 2*HOUR]) {
    const from = t + shift, to = from + 2 * DAY; const exp = referenceTicks(new PlainCron(cron), zone, from, to); if (!exp) continue; cases++;
    let got: number[]; try { got = oldTicks(cron, zone, from, to); } catch (e) { got = [-1]; }
    if (JSON.stringify(got) !== JSON.stringify(exp)) { bad++; const key = `${cron}|${got.length < exp.length ? 'lost' : got.length > exp.length ? 'extra' : 'moved'}`; if (!found.has(key)) found.set(key, `${zone} from ${new Date(from).toISOString()}: got ${got.map((x) => new Date(x).toISOString()).join(',')} want ${exp.map((x) => new Date(x).toISOString()).join(',')}`); }
  }
  console.log(JSON.stringify({ cases, bad }));
  for (const [k, v] of found) console.log(k, '::', v.slice(0, 400));
}, 1_200_000);

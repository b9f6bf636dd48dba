/**
 * The schedules a team creates through the API, one per customer: `count` of them on `ping`, a
 * quarter `every` (1 min to a day), the rest crons in five zones (every 15 minutes, hourly, daily,
 * weekdays at 9, monthly), their minutes spread by index as customers' choices would be. Among
 * them, three sample groups fire often enough to be counted in a short window: each tick once.
 */
export interface ApiScheduleBody {
  job: 'ping';
  every?: string | number;
  cron?: string;
  tz?: string;
}

export const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'] as const;
const EVERY = ['1m', '5m', '15m', '30m', '1h', '6h', '12h', '1d'];

/** The sample groups: ids, and how often each of their schedules ticks. */
export const SAMPLES = [
  { name: 'every 1 s', everyMs: 1000, ids: Array.from({ length: 20 }, (_, index) => `sample-1s-${index}`), body: (): ApiScheduleBody => ({ job: 'ping', every: 1000 }) },
  { name: 'every 5 s', everyMs: 5000, ids: Array.from({ length: 20 }, (_, index) => `sample-5s-${index}`), body: (): ApiScheduleBody => ({ job: 'ping', every: '5s' }) },
  {
    name: 'cron * * * * * in five zones',
    everyMs: 60_000,
    ids: Array.from({ length: 20 }, (_, index) => `sample-cron-${index}`),
    body: (index: number): ApiScheduleBody => ({ job: 'ping', cron: '* * * * *', tz: ZONES[index % ZONES.length] as string }),
  },
] as const;

const SAMPLED = SAMPLES.reduce((sum, group) => sum + group.ids.length, 0);

function customerSchedule(index: number): ApiScheduleBody {
  const minute = (index * 7) % 60;
  if (index % 4 === 0) return { job: 'ping', every: EVERY[(index >> 2) % EVERY.length] as string };
  const tz = ZONES[index % ZONES.length] as string;
  const hour = (index * 5) % 24;
  switch (index % 5) {
    case 0:
      return { job: 'ping', cron: `${minute % 15}/15 * * * *`, tz };
    case 1:
      return { job: 'ping', cron: `${minute} * * * *`, tz };
    case 2:
      return { job: 'ping', cron: `${minute} ${hour} * * *`, tz };
    case 3:
      return { job: 'ping', cron: `${minute} 9 * * 1-5`, tz };
    default:
      return { job: 'ping', cron: `${minute} ${hour} ${(index % 28) + 1} * *`, tz };
  }
}

/** The `index`-th of `count` schedules: its id and the body of its PUT /api/schedules/:id. */
export function apiSchedule(index: number): { id: string; body: ApiScheduleBody } {
  let offset = index;
  for (const group of SAMPLES) {
    if (offset < group.ids.length) return { id: group.ids[offset] as string, body: group.body(offset) };
    offset -= group.ids.length;
  }
  return { id: `customer-${String(offset).padStart(6, '0')}`, body: customerSchedule(offset) };
}

/** How many schedules of `count` are customers' (the rest are the samples). */
export const customerCount = (count: number): number => count - SAMPLED;

import { apiScheduleRecord, ScheduleStore, type ScheduleInput } from '@drumline/core/runtime';
import { API_TOKEN, appEnv, markInitDone, registry, waitHttpReady } from '../support/apps.js';
import { entries, NodeProcess } from '../support/node-process.js';
import { freePort } from '../support/redis-server.js';
import { check, type BenchContext, type Measured, type Scenario } from '../support/scenario.js';
import { percentile, round } from '../support/stats.js';

const PREFIX = 'bench-listing';
const PAGE = 100;
const MAX_PAGE_P99_MS = 250;
const MAX_LAG_MS = 50;

const ZONES = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'America/Havana', 'Asia/Kolkata', 'UTC', 'America/Santiago', 'Pacific/Chatham'];
/** One in ten fires every few years or on rare days: the case that used to cost seconds per listing. */
const RARE = ['0 0 29 2 *', '0 9 * 2 1#5', '0 12 13 * 5', '30 2 31 12 *', '0 3 L 2 *'];
const COMMON = ['*/5 * * * *', '0 * * * *', '30 2 * * *', '0 9 * * 1-5', '15 3 1 * *'];

function inputFor(index: number): ScheduleInput {
  const tz = ZONES[index % ZONES.length] as string;
  if (index % 10 === 0) return { job: 'ping', cron: RARE[(index / 10) % RARE.length] as string, tz };
  if (index % 5 === 1) return { job: 'ping', every: `${(index % 50) + 1}m` };
  return { job: 'ping', cron: COMMON[index % COMMON.length] as string, tz };
}

const METRICS_TOKEN = 'bench-metrics-token-0123456789';

/**
 * The web's longest event-loop delay since the last scrape (prom-client's `nodejs_eventloop_lag_max_seconds`,
 * which resets when read), in ms; null for a server without /metrics.
 */
async function eventLoopLagMaxMs(url: string): Promise<number | null> {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  if (!response.ok) return null;
  const line = (await response.text()).split('\n').find((text) => text.startsWith('nodejs_eventloop_lag_max_seconds'));
  return line === undefined ? null : round(Number(line.split(' ').pop()) * 1000);
}

interface Walk {
  pageMs: number[];
  /** The web's own longest event-loop delay during the walk (Drumline only). */
  eventLoopMaxMs: number | null;
  /** The slowest /healthz answer while the pages were read: an upper bound of how long the event loop was held. */
  worstProbeMs: number;
  listed: number;
}

/** Reads every page in turn while another client asks /healthz every 5 ms. */
async function walk(url: string): Promise<Walk> {
  await eventLoopLagMaxMs(url);
  const pageMs: number[] = [];
  let listed = 0;
  let worstProbeMs = 0;
  let walking = true;
  const probe = (async () => {
    while (walking) {
      const started = performance.now();
      await fetch(`${url}/healthz`).then((response) => response.arrayBuffer());
      worstProbeMs = Math.max(worstProbeMs, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  let cursor: string | null = null;
  do {
    const started = performance.now();
    const response = await fetch(`${url}/api/schedules?limit=${PAGE}${cursor ? `&cursor=${cursor}` : ''}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    const body = (await response.json()) as { schedules: unknown[]; nextCursor: string | null };
    pageMs.push(performance.now() - started);
    check(response.status === 200, `GET /api/schedules answered ${response.status}`);
    listed += body.schedules.length;
    cursor = body.nextCursor;
  } while (cursor !== null);
  walking = false;
  await probe;
  return { pageMs, worstProbeMs, listed, eventLoopMaxMs: await eventLoopLagMaxMs(url) };
}

const figures = (runs: Walk) => ({
  pages: runs.pageMs.length,
  pageP50Ms: round(percentile(runs.pageMs, 50)),
  pageP99Ms: round(percentile(runs.pageMs, 99)),
  worstHealthzMs: round(runs.worstProbeMs),
  eventLoopMaxMs: runs.eventLoopMaxMs,
});

export const scheduleListing: Scenario = {
  name: 'schedule-listing',
  target: `10000 schedules, rare crons among them: GET /api/schedules page p99 <= ${MAX_PAGE_P99_MS} ms; the web's event loop never held more than ${MAX_LAG_MS} ms`,
  async run({ redis, quick, log }: BenchContext): Promise<Measured> {
    const count = quick ? 2000 : 10_000;
    await redis.flush();
    await markInitDone(redis.client, PREFIX);
    const store = new ScheduleStore(redis.client, PREFIX);
    const write = redis.client.pipeline();
    for (let index = 0; index < count; index += 1) {
      const record = apiScheduleRecord(registry, `listing-${String(index).padStart(5, '0')}`, inputFor(index));
      write.hset(store.keys.schedules, record.id, JSON.stringify(record));
    }
    await write.exec();
    const [webPort, barePort] = [await freePort(), await freePort()];
    const web = NodeProcess.start('drumline web', entries.web, appEnv(redis, PREFIX, { PORT: String(webPort), HOST: '127.0.0.1', API_TOKEN, METRICS_TOKEN, DASHBOARD_USER: 'bench', DASHBOARD_PASSWORD: 'bench-password-123' }));
    const bare = NodeProcess.start('bare fastify', entries.bareWeb, { REDIS_URL: redis.url, KEY_PREFIX: PREFIX, PORT: String(barePort), JOB_OPTS: '{}' });
    try {
      const [webUrl, bareUrl] = [`http://127.0.0.1:${webPort}`, `http://127.0.0.1:${barePort}`];
      await Promise.all([waitHttpReady(web, `${webUrl}/readyz`), waitHttpReady(bare, `${bareUrl}/readyz`)]);
      // The first walk computes every schedule's next runs; the second finds them known.
      const cold = await walk(webUrl);
      const warm = await walk(webUrl);
      const baseline = await walk(bareUrl);
      for (const run of [cold, warm, baseline]) check(run.listed === count, `a walk listed ${run.listed} schedules, expected ${count}`);
      const [first, again, bareFigures] = [figures(cold), figures(warm), figures(baseline)];
      log(`  drumline first walk p99 ${first.pageP99Ms} ms, again ${again.pageP99Ms} ms, worst /healthz ${Math.max(first.worstHealthzMs, again.worstHealthzMs)} ms; bare p99 ${bareFigures.pageP99Ms} ms`);
      const worstPageP99 = Math.max(first.pageP99Ms, again.pageP99Ms);
      const worstProbe = Math.max(first.worstHealthzMs, again.worstHealthzMs);
      const worstLag = Math.max(first.eventLoopMaxMs ?? 0, again.eventLoopMaxMs ?? 0);
      const ratio = round(bareFigures.pageP99Ms / again.pageP99Ms, 3);
      const pass = worstPageP99 <= MAX_PAGE_P99_MS && worstLag <= MAX_LAG_MS;
      return {
        drumline: { schedules: count, firstWalk: first, secondWalk: again },
        baseline: { schedules: count, walk: bareFigures },
        ratio,
        ratioOf: 'bare page p99 ÷ Drumline page p99 (second walk)',
        pass,
        ...(pass ? {} : { missed: `page p99 ${worstPageP99} ms (<= ${MAX_PAGE_P99_MS}), event loop held up to ${worstLag} ms (<= ${MAX_LAG_MS})` }),
        summary: {
          drumline: `${count} schedules, ${PAGE} a page: first walk p50 ${first.pageP50Ms} / p99 ${first.pageP99Ms} ms, again p50 ${again.pageP50Ms} / p99 ${again.pageP99Ms} ms; event loop held up to ${worstLag} ms, worst /healthz meanwhile ${worstProbe} ms`,
          baseline: `same pages of raw records: p50 ${bareFigures.pageP50Ms} / p99 ${bareFigures.pageP99Ms} ms; worst /healthz ${bareFigures.worstHealthzMs} ms`,
        },
        method:
          `${count} API schedules (a tenth of them rare crons such as 0 9 * 2 1#5, in DST zones with 30-minute and midnight changes among them) ` +
          `written to Redis; every page (limit ${PAGE}) of apps/web GET /api/schedules read in turn, twice, while another client asked /healthz ` +
          "every 5 ms; the web's own longest event-loop delay over each walk is prom-client's nodejs_eventloop_lag_max_seconds. Baseline: a bare Fastify route doing the same " +
          'Redis reads (sorted ids, one HMGET a page) and returning the raw records, without next runs.',
      };
    } finally {
      await Promise.all([web.stop(), bare.stop()]);
    }
  },
};

import { fc, test } from '@fast-check/vitest';
import { apiScheduleRecord, ScheduleStore, TickLedger, type TickEvent } from '@drumline/core/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { putEveryMinute, setCursor } from './schedule-fixtures.js';
import { webForThisFile, withDashboardLogin, withToken } from './web-harness.js';

const web = webForThisFile('web-schedules-page-history');
const MINUTE = 60_000;
const numRuns = Number(process.env.DRUMLINE_PROPERTY_RUNS ?? 25);
const seed = process.env.DRUMLINE_PROPERTY_SEED ? Number(process.env.DRUMLINE_PROPERTY_SEED) : 20261202;

const ledger = () => new TickLedger(web().app.redis, web().queues.prefix);
const store = () => new ScheduleStore(web().app.redis, web().queues.prefix);
const minuteAgo = (n: number) => Math.floor(Date.now() / MINUTE) * MINUTE - n * MINUTE;
const iso = (ms: number) => new Date(ms).toISOString();

function get(url: string, headers: Record<string, string> = withDashboardLogin) {
  return web().app.inject({ method: 'GET', url, headers });
}

function rowOf(body: string, id: string): string {
  return new RegExp(`<tr data-schedule="${id}"[\\s\\S]*?</tr>`).exec(body)?.[0] ?? '';
}

/** The strip's bars as the page draws them, left to right: the tick each links to, its state and height class. */
function bars(row: string): { tick: number; state: string; level: string }[] {
  return [...row.matchAll(/<a class="tick tick-[a-z]+ late-(\w+)" data-state="([^"]+)" href="[^"]*\/ticks\/([^"]+)"/g)].map(([, level = '', state = '', tick = '']) => ({
    tick: Date.parse(tick),
    state,
    level,
  }));
}

const [ran, failed, overlapped, late, running] = [5, 4, 3, 2, 1].map(minuteAgo) as [number, number, number, number, number];
const events: [number, TickEvent][] = [
  [ran, { kind: 'materialized', at: ran - 15_000, term: 1, late: false }],
  [ran, { kind: 'started', at: ran + 12, attempt: 1, worker: 'host-a:41' }],
  [ran, { kind: 'completed', at: ran + 262, attempt: 1, worker: 'host-a:41' }],
  [failed, { kind: 'started', at: failed + 4000, attempt: 1, worker: 'host-a:41' }],
  [failed, { kind: 'failed', at: failed + 4050, attempt: 1, worker: 'host-a:41', retry: false, reason: 'SMTP <refused>' }],
  [overlapped, { kind: 'skipped', at: overlapped + 1, worker: 'host-b:7', why: 'overlap' }],
  [late, { kind: 'skipped', at: late + 40_000, worker: 'host-b:7', why: 'missed' }],
  [running, { kind: 'started', at: running + 3, attempt: 1, worker: 'host-b:7' }],
];

beforeAll(async () => {
  await putEveryMinute(web(), 'history');
  await ledger().append(events.map(([tick, event]) => ({ scheduleId: 'history', tick, event })));
  await setCursor(web(), 'history', Date.now() + 15_000);
});

describe("a schedule's row on GET /admin/schedules", () => {
  it('draws a bar per tick, oldest first, in the state its ledger events give, as tall as it was late, each linked to its story', async () => {
    const response = await get('/admin/schedules');
    expect(response.statusCode).toBe(200);
    const row = rowOf(response.body, 'history');
    expect(bars(row)).toEqual([
      { tick: ran, state: 'ran', level: '2' },
      { tick: failed, state: 'failed', level: '4' },
      { tick: overlapped, state: 'skipped:overlap', level: 'none' },
      { tick: late, state: 'missed', level: 'none' },
      { tick: running, state: 'pending', level: '1' },
    ]);
    expect(row).toContain(`href="/admin/schedules/history/ticks/${iso(ran)}"`);
    // Told apart without colour too: each bar names its state.
    expect(row).toContain(`title="${iso(failed).slice(0, 19).replace('T', ' ')} UTC: failed, 4.0 s late (SMTP &#60;refused&#62;)"`);
  });

  it('agrees with the ticks API on the states, and counts the last 24 h beside the strip', async () => {
    const api = (await get('/api/schedules/history/ticks', withToken)).json();
    const row = rowOf((await get('/admin/schedules')).body, 'history');
    expect(bars(row).map(({ tick, state }) => [tick, state]).reverse()).toEqual(api.ticks.map((tick: { tick: string; state: string }) => [Date.parse(tick.tick), tick.state]));
    expect(row).toMatch(/24 h: <span class="count count-ran">1 ran<\/span> <span class="count count-failed">1 failed<\/span> <span class="count count-skipped">1 skipped<\/span> <span class="count count-missed">1 missed<\/span>/);
  });

  it('lists a tick no scheduler added as missed, and leaves out ticks older than the strip holds', async () => {
    await putEveryMinute(web(), 'history-long');
    const ticks = Array.from({ length: 50 }, (_, index) => minuteAgo(index + 60));
    await ledger().append(ticks.map((tick) => ({ scheduleId: 'history-long', tick, event: { kind: 'completed', at: tick + 100, attempt: 1, worker: 'w:1' } })));
    await setCursor(web(), 'history-long', minuteAgo(60));
    const strip = bars(rowOf((await get('/admin/schedules')).body, 'history-long'));
    expect(strip).toHaveLength(40);
    expect(strip.at(-1)?.state).toBe('missed');
    expect(strip.map(({ tick }) => tick)).toEqual([...strip.map(({ tick }) => tick)].sort((a, b) => a - b));
  });
});

describe('GET /admin/schedules/:id/ticks/:tick', () => {
  it("tells a tick's story: its state and sentence, who decided what and when, and links to its run in Bull Board", async () => {
    const response = await get(`/admin/schedules/history/ticks/${iso(ran)}`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['content-security-policy']).toContain("script-src 'self'");
    const { body } = response;
    expect(body).toContain('ran: worker host-a:41 completed it in 250 ms, 12 ms late');
    expect(body).toContain('<td>worker host-a:41</td><td>started attempt 1, 12 ms after it was due</td>');
    expect(body).toContain('<td>scheduler (term 1)</td>');
    expect(body).toContain(`href="/admin/queues/queue/default/${encodeURIComponent(`history@${ran}`)}"`);
  });

  it('takes the tick as epoch milliseconds too, and escapes what the workers wrote', async () => {
    const { statusCode, body } = await get(`/admin/schedules/history/ticks/${failed}`);
    expect(statusCode).toBe(200);
    expect(body).toContain('SMTP &#60;refused&#62;');
    expect(body).not.toContain('SMTP <refused>');
  });

  it('answers 404 with a page for an unknown schedule and for a time that is not one of its ticks', async () => {
    const unknown = await get(`/admin/schedules/no-such-schedule/ticks/${iso(ran)}`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toContain('no schedule with id `no-such-schedule`');
    const between = await get(`/admin/schedules/history/ticks/${iso(ran + 1234)}`);
    expect(between.statusCode).toBe(404);
    expect(between.body).toContain('is not a tick of schedule `history`');
  });

  it('answers 400 naming the field for a bad id or a bad tick', async () => {
    const badTick = await get('/admin/schedules/history/ticks/yesterday');
    expect(badTick.statusCode).toBe(400);
    expect(badTick.body).toMatch(/tick: must be an ISO 8601 time/);
    const badId = await get(`/admin/schedules/${encodeURIComponent('-bad id')}/ticks/${iso(ran)}`);
    expect(badId.statusCode).toBe(400);
    expect(badId.body).toMatch(/id: must be 1-128 characters/);
  });

  it('answers 401 without the dashboard login, and with the API token instead of it', async () => {
    for (const headers of [{}, withToken]) expect((await get(`/admin/schedules/history/ticks/${iso(ran)}`, headers)).statusCode).toBe(401);
  });
});

describe('searching schedules: ?q=', () => {
  const SEARCHED = 'search-';
  const jobs = ['ping', 'send-email', 'daily-report', 'Sync-Tenant'];
  const ids = fc.uniqueArray(fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,6}$/), { minLength: 0, maxLength: 25, comparator: (a, b) => a.toLowerCase() === b.toLowerCase() });
  const schedules = ids.chain((picked) => fc.tuple(fc.constant(picked), fc.array(fc.constantFrom(...jobs), { minLength: picked.length, maxLength: picked.length })));
  const query = fc.oneof(fc.stringMatching(/^[a-zA-Z0-9.-]{1,3}$/), fc.constantFrom('ping', 'EMAIL', 'tenant', '-', 'report'));

  /** Writes the schedules as the store keeps them, with any job name (a record may name a job the code no longer has). */
  async function writeSchedules(list: [string, string][]): Promise<void> {
    const { keys } = store();
    await web().app.redis.del(keys.schedules);
    const template = apiScheduleRecord(web().queues.registry, 'template', { job: 'ping', every: '1m' });
    if (list.length > 0) await web().app.redis.hset(keys.schedules, Object.fromEntries(list.map(([id, job]) => [id, JSON.stringify({ ...template, id, job })])));
  }

  async function walk(q: string, limit: number): Promise<string[]> {
    const listed: string[] = [];
    let cursor: string | null = null;
    do {
      const params = new URLSearchParams({ q, limit: String(limit), ...(cursor ? { cursor } : {}) });
      const response = await get(`/api/schedules?${params.toString()}`, withToken);
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json() as { schedules: { id: string }[]; nextCursor: string | null };
      listed.push(...page.schedules.map(({ id }) => id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    return listed;
  }

  test.prop([schedules, query, fc.integer({ min: 1, max: 7 })], { numRuns, seed })(
    'pages through exactly the schedules whose id or job contains the query, ignoring case, in id order, each once',
    async ([picked, jobNames], q, limit) => {
      const list = picked.map((id, index): [string, string] => [`${SEARCHED}${id}`, jobNames[index] ?? 'ping']);
      await writeSchedules(list);
      const expected = list
        .filter(([id, job]) => id.toLowerCase().includes(q.toLowerCase()) || job.toLowerCase().includes(q.toLowerCase()))
        .map(([id]) => id)
        .sort();
      expect(await walk(q, limit)).toEqual(expected);
    },
  );

  it('shows the search in its box, only the matches, and keeps it in the next page link', async () => {
    await writeSchedules([
      ['alpha-ping', 'ping'],
      ['beta', 'send-email'],
      ['gamma', 'send-email'],
      ['delta', 'daily-report'],
    ]);
    const first = await get('/admin/schedules?q=EMAIL&limit=1');
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('name="q" value="EMAIL"');
    expect(first.body).toContain('data-schedule="beta"');
    expect(first.body).not.toContain('data-schedule="alpha-ping"');
    const next = /<a class="next-page" href="([^"]+)"/.exec(first.body)?.[1]?.replaceAll('&#38;', '&') ?? '';
    expect(next).toMatch(/^\/admin\/schedules\?q=EMAIL&cursor=/);
    const second = await get(next);
    expect(second.body).toContain('data-schedule="gamma"');
    expect(second.body).not.toContain('class="next-page"');
    expect((await get('/admin/schedules?q=nothing-like-it')).body).toContain("No schedule's id or job contains “nothing-like-it”");
  });
});

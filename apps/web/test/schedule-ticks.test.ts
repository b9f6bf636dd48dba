import { fc, test } from '@fast-check/vitest';
import { ScheduleStore, TickLedger, type TickEvent } from '@drumline/core/runtime';
import { describe, expect, it } from 'vitest';
import { putEveryMinute, setCursor } from './schedule-fixtures.js';
import { webForThisFile, withToken } from './web-harness.js';

const web = webForThisFile('web-schedule-ticks');
const MINUTE = 60_000;
const numRuns = Number(process.env.DRUMLINE_PROPERTY_RUNS ?? 25);
const seed = process.env.DRUMLINE_PROPERTY_SEED ? Number(process.env.DRUMLINE_PROPERTY_SEED) : 20261202;

const ledger = () => new TickLedger(web().app.redis, web().queues.prefix);
const store = () => new ScheduleStore(web().app.redis, web().queues.prefix);

function get(url: string, headers: Record<string, string> = withToken) {
  return web().app.inject({ method: 'GET', url: `/api/schedules${url}`, headers });
}

/** A term of the leader history, as acquire-lease.lua and renew-leadership.lua write it. */
async function leaderTerm(term: number, replica: string, electedAt: number, lastSeenAt: number): Promise<void> {
  const { keys } = store();
  await web().app.redis.hset(keys.leaderTerms, String(term), JSON.stringify({ replica, electedAt }));
  await web().app.redis.hset(keys.leaderSeen, String(term), String(lastSeenAt));
}

const minuteAgo = (n: number) => Math.floor(Date.now() / MINUTE) * MINUTE - n * MINUTE;

describe('GET /api/schedules/:id/ticks', () => {
  it('lists the ticks newest first, each with the state its events give, its run, lateness and length, and counts per state', async () => {
    await putEveryMinute(web(), 'ticks-states');
    const [ran, failed, overlapped, late, running] = [5, 4, 3, 2, 1].map(minuteAgo) as [number, number, number, number, number];
    const events: [number, TickEvent][] = [
      [ran, { kind: 'materialized', at: ran - 15_000, term: 1, late: false }],
      [ran, { kind: 'started', at: ran + 12, attempt: 1, worker: 'w1' }],
      [ran, { kind: 'completed', at: ran + 262, attempt: 1, worker: 'w1' }],
      [failed, { kind: 'started', at: failed + 5, attempt: 1, worker: 'w1' }],
      [failed, { kind: 'failed', at: failed + 50, attempt: 1, worker: 'w1', retry: false, reason: 'SMTP refused' }],
      [overlapped, { kind: 'skipped', at: overlapped + 1, worker: 'w2', why: 'overlap' }],
      [late, { kind: 'skipped', at: late + 40_000, worker: 'w2', why: 'missed' }],
      [running, { kind: 'started', at: running + 3, attempt: 1, worker: 'w2' }],
    ];
    await ledger().append(events.map(([tick, event]) => ({ scheduleId: 'ticks-states', tick, event })));
    await setCursor(web(), 'ticks-states', Date.now() + 15_000);
    const response = await get('/ticks-states/ticks');
    expect(response.statusCode, response.body).toBe(200);
    const { ticks, counts, nextCursor } = response.json();
    expect(ticks.map((tick: { tick: string; state: string }) => [Date.parse(tick.tick), tick.state])).toEqual([
      [running, 'pending'],
      [late, 'missed'],
      [overlapped, 'skipped:overlap'],
      [failed, 'failed'],
      [ran, 'ran'],
    ]);
    expect(ticks[4]).toMatchObject({ runId: `ticks-states@${ran}`, attempts: 1, latenessMs: 12, durationMs: 250, reason: null });
    expect(ticks[1]).toMatchObject({ reason: 'missed', runId: `ticks-states@${late}` });
    expect(ticks[3]).toMatchObject({ reason: 'SMTP refused' });
    expect(counts).toEqual({ ran: 1, failed: 1, skipped: 1, missed: 1, pending: 1 });
    expect(nextCursor).toBeNull();
  });

  it('lists a tick no scheduler added (the leader is gone) as missed, although the ledger has no entry for it', async () => {
    await putEveryMinute(web(), 'ticks-leaderless');
    await setCursor(web(), 'ticks-leaderless', minuteAgo(3));
    const { ticks } = (await get('/ticks-leaderless/ticks')).json();
    const unrecorded = [minuteAgo(2), minuteAgo(1), minuteAgo(0)].filter((tick) => tick < Date.now() - 5_000).reverse();
    expect(ticks.map((tick: { tick: string }) => Date.parse(tick.tick))).toEqual(unrecorded);
    for (const tick of ticks) expect(tick).toMatchObject({ state: 'missed', runId: null });
  });

  test.prop([fc.uniqueArray(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 7 })], { numRuns, seed })(
    'pages through every kept tick once, newest first, at any page size, within `from`-`to`',
    async (minutesAgo, limit) => {
      const id = `ticks-paging-${minutesAgo.length}-${limit}-${minutesAgo[0]}`;
      await web().app.redis.del(ledger().keys.tickLedger(id));
      await putEveryMinute(web(), id);
      const ticks = minutesAgo.map(minuteAgo);
      await ledger().append(ticks.map((tick) => ({ scheduleId: id, tick, event: { kind: 'materialized', at: tick - 15_000, term: 1, late: false } })));
      const from = minuteAgo(200);
      const listed: number[] = [];
      let cursor: string | null = null;
      do {
        const query: string = new URLSearchParams({ limit: String(limit), from: new Date(from).toISOString(), ...(cursor ? { cursor } : {}) }).toString();
        const response = await get(`/${id}/ticks?${query}`);
        expect(response.statusCode, response.body).toBe(200);
        const page = response.json();
        expect(page.ticks.length).toBeLessThanOrEqual(limit);
        listed.push(...page.ticks.map((tick: { tick: string }) => Date.parse(tick.tick)));
        cursor = page.nextCursor;
      } while (cursor);
      expect(listed).toEqual(ticks.filter((tick) => tick >= from).sort((a, b) => b - a));
    },
  );

  it('refuses what it cannot answer with a 4xx naming the field', async () => {
    await putEveryMinute(web(), 'ticks-refusals');
    await ledger().append([1, 2, 3].map((n) => ({ scheduleId: 'ticks-refusals', tick: minuteAgo(n), event: { kind: 'materialized', at: minuteAgo(n), term: 1, late: false } })));
    const first = (await get('/ticks-refusals/ticks?limit=1')).json();
    expect(first.nextCursor).not.toBeNull();
    await putEveryMinute(web(), 'ticks-other');
    const cases: [string, number, string][] = [
      ['/ticks-refusals/ticks?from=yesterday', 400, 'from'],
      ['/ticks-refusals/ticks?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z', 400, 'to'],
      ['/ticks-refusals/ticks?limit=0', 400, 'limit'],
      ['/ticks-refusals/ticks?cursor=not-a-cursor', 400, 'cursor'],
      [`/ticks-other/ticks?cursor=${first.nextCursor}`, 400, 'cursor'],
      [`/ticks-refusals/ticks?limit=1&from=0&cursor=${first.nextCursor}`, 400, 'cursor'],
      ['/ticks-refusals/ticks?colour=red', 400, 'colour'],
    ];
    for (const [url, status, field] of cases) {
      const response = await get(url);
      expect(response.statusCode, `${url}: ${response.body}`).toBe(status);
      expect(JSON.stringify(response.json()), url).toContain(field);
    }
    expect((await get('/no-such-schedule/ticks')).statusCode).toBe(404);
    expect((await get('/ticks-refusals/ticks', {})).statusCode).toBe(401);
  });
});

describe('GET /api/schedules/:id/ticks/:tick', () => {
  it("tells a tick's story: which scheduler added it, which worker ran it, how late and how it ended", async () => {
    await putEveryMinute(web(), 'story-ran');
    const tick = minuteAgo(2);
    await leaderTerm(41, 'scheduler-a:7', tick - 3_600_000, Date.now());
    await ledger().append([
      { scheduleId: 'story-ran', tick, event: { kind: 'materialized', at: tick - 14_750, term: 41, late: false } },
      { scheduleId: 'story-ran', tick, event: { kind: 'started', at: tick + 9, attempt: 1, worker: 'worker-b:12' } },
      { scheduleId: 'story-ran', tick, event: { kind: 'completed', at: tick + 1209, attempt: 1, worker: 'worker-b:12' } },
    ]);
    const response = await get(`/story-ran/ticks/${new Date(tick).toISOString()}`);
    expect(response.statusCode, response.body).toBe(200);
    const story = response.json();
    expect(story).toMatchObject({ state: 'ran', runId: `story-ran@${tick}`, latenessMs: 9, durationMs: 1200 });
    expect(story.events.map((line: { actor: string; kind: string }) => [line.actor, line.kind])).toEqual([
      ['scheduler scheduler-a:7 (term 41)', 'materialized'],
      ['worker worker-b:12', 'started'],
      ['worker worker-b:12', 'completed'],
    ]);
    expect(story.summary).toContain('worker-b:12');
    // The same tick by epoch milliseconds.
    expect((await get(`/story-ran/ticks/${tick}`)).json()).toEqual(story);
  });

  it('tells of a tick that never became a run: no scheduler was leading between the last sign of the old leader and the next election', async () => {
    await putEveryMinute(web(), 'story-leaderless');
    const tick = minuteAgo(10);
    const lastSeen = tick - 2_000;
    const elected = tick + 31_000;
    // Terms on either side of the tick only: each test's terms are its own, far from the others'.
    await web().app.redis.del(store().keys.leaderTerms, store().keys.leaderSeen);
    await leaderTerm(1, 'scheduler-a:1', tick - 600_000, lastSeen);
    await leaderTerm(2, 'scheduler-b:2', elected, Date.now());
    await setCursor(web(), 'story-leaderless', Date.now() + 15_000);
    const story = (await get(`/story-leaderless/ticks/${tick}`)).json();
    const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);
    expect(story).toMatchObject({ state: 'missed', runId: null, events: [] });
    expect(story.summary).toBe(`missed: no scheduler was leading between ${clock(lastSeen)} and ${clock(elected)}`);
  });

  it('answers 404 naming the schedule for a time that is not one of its ticks, and 400 naming `tick` for no time at all', async () => {
    await putEveryMinute(web(), 'story-refusals');
    const notATick = await get(`/story-refusals/ticks/${minuteAgo(1) + 30_000}`);
    expect(notATick.statusCode).toBe(404);
    expect(notATick.json()).toMatchObject({ error: 'DRUMLINE_UNKNOWN_TICK', message: expect.stringContaining('story-refusals') });
    const garbage = await get('/story-refusals/ticks/soon');
    expect(garbage.statusCode).toBe(400);
    expect(JSON.stringify(garbage.json())).toContain('tick');
  });
});

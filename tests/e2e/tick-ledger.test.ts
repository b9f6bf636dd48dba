import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCaller } from '../support/http-api.js';
import { freePort, startApp, stopApps, type AppProcess } from '../support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';

// The tick ledger told through the real apps: a one-second schedule runs, its only scheduler is
// killed with -9 and comes back a while later. Every tick of the window must be listed, none lost
// silently: the ones that ran with the worker that ran them, the ones nobody added as missed, with
// the stretch when no scheduler led.
const prefix = uniquePrefix('e2e-tick-ledger');
const API_TOKEN = `e2e-${randomBytes(16).toString('hex')}`;
const LEASE_TTL_MS = 2000;
const common = { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, LOG_LEVEL: 'info', LEASE_TTL_MS: String(LEASE_TTL_MS), SCHEDULER_LOOKAHEAD_MS: '3000', SCHEDULER_POLL_MS: '200' };
const redis = connectTestRedis();
const apps: AppProcess[] = [];
let baseUrl = '';
let worker: AppProcess;
const api = apiCaller(() => baseUrl, API_TOKEN);

interface Tick {
  tick: string;
  state: string;
  runId: string | null;
  reason: string | null;
}
interface Story extends Tick {
  summary: string;
  events: { at: string; actor: string; kind: string; text: string }[];
}

async function ticks(query = ''): Promise<Tick[]> {
  const { status, body } = await api<{ ticks: Tick[] }>('GET', `/api/schedules/every-second/ticks?limit=1000${query}`);
  expect(status, JSON.stringify(body)).toBe(200);
  return body.ticks;
}
async function story(tick: number | string): Promise<Story> {
  const { status, body } = await api<Story>('GET', `/api/schedules/every-second/ticks/${encodeURIComponent(String(tick))}`);
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
}
const at = (tick: Tick) => Date.parse(tick.tick);

beforeAll(async () => {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  worker = startApp('worker', { env: common });
  const web = startApp('web', { env: { ...common, PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'e2e-admin', DASHBOARD_PASSWORD: 'e2e-password-long-enough' } });
  apps.push(worker, web);
  await worker.waitForLog((log) => log.msg === 'worker ready', 30_000);
  await web.waitForHttp(`${baseUrl}/healthz`, 60_000);
});

afterAll(async () => {
  await stopApps(apps);
  await deleteKeys(redis, prefix);
  await redis.quit();
});

describe('the tick ledger through a scheduler outage', () => {
  it('lists every tick once: the ones that ran with their worker, the ones no scheduler added as missed, with when no scheduler led', async () => {
    const first = startApp('scheduler', { name: 'scheduler-1', env: common });
    apps.push(first);
    await first.waitForLog((log) => log.msg === 'materializing schedules', 30_000);
    const put = await api('PUT', '/api/schedules/every-second', { job: 'ping', every: '1s', misfire: 'skip' });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    await expect.poll(async () => (await ticks()).filter((tick) => tick.state === 'ran').length, { timeout: 30_000, interval: 250 }).toBeGreaterThanOrEqual(3);

    const [ranBefore] = (await ticks()).filter((tick) => tick.state === 'ran');
    const ranStory = await story(ranBefore!.tick);
    expect(ranStory.events.map((line) => [line.kind, line.actor])).toEqual([
      ['materialized', expect.stringMatching(new RegExp(`^scheduler ${hostname()}:${first.pid} \\(term \\d+\\)$`))],
      ['started', `worker ${hostname()}:${worker.pid}`],
      ['completed', `worker ${hostname()}:${worker.pid}`],
    ]);

    await first.kill();
    const killedAt = Date.now();
    // With no scheduler at all, ticks due since are listed as missed, from the schedule's timing.
    await expect.poll(async () => (await ticks()).some((tick) => tick.state === 'missed' && tick.runId === null && at(tick) > killedAt + 3000), { timeout: 30_000, interval: 500 }).toBe(true);
    const unrecorded = (await ticks()).find((tick) => tick.state === 'missed' && at(tick) > killedAt + 3000)!;
    expect((await story(unrecorded.tick)).summary).toMatch(/^missed: no scheduler has been leading since \d\d:\d\d:\d\d$/);

    const second = startApp('scheduler', { name: 'scheduler-2', env: common });
    apps.push(second);
    const restartedAt = Date.now();
    await second.waitForLog((log) => log.msg === 'materializing schedules', 30_000);
    await expect.poll(async () => (await ticks()).some((tick) => tick.state === 'ran' && at(tick) > restartedAt + 1000), { timeout: 30_000, interval: 250 }).toBe(true);

    const window = (await ticks()).filter((tick) => at(tick) >= at(ranBefore!) && at(tick) <= restartedAt + 1000).sort((a, b) => at(a) - at(b));
    // Every second of the window once: nothing lost silently, nothing listed twice.
    const expected: number[] = [];
    for (let tick = at(ranBefore!); tick <= restartedAt + 1000; tick += 1000) expected.push(tick);
    expect(window.map(at)).toEqual(expected);
    expect(new Set(window.map((tick) => tick.state))).toEqual(new Set(['ran', 'missed']));
    const missed = window.filter((tick) => tick.state === 'missed');
    for (const tick of missed) {
      expect(at(tick)).toBeGreaterThan(killedAt - 1000);
      expect(at(tick)).toBeLessThan(restartedAt);
    }
    const gapStory = await story(missed[Math.floor(missed.length / 2)]!.tick);
    const [, from, to] = /^missed: no scheduler was leading between (\d\d:\d\d:\d\d) and (\d\d:\d\d:\d\d); its misfire policy \(skip\) dropped it$/.exec(gapStory.summary) ?? [];
    const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);
    // The dead leader's last renewal came at most a third of its lease before the kill, and the next election after the restart.
    const between = { from, to, killedAt: clock(killedAt), restartedAt: clock(restartedAt), summary: gapStory.summary };
    expect(from! >= clock(killedAt - LEASE_TTL_MS) && from! <= clock(killedAt), JSON.stringify(between)).toBe(true);
    expect(to! >= clock(restartedAt - 1000), JSON.stringify(between)).toBe(true);
    expect(gapStory.events.map((line) => line.kind)).toContain('missed');

    const ranAfter = window.filter((tick) => tick.state === 'ran' && at(tick) > restartedAt - 6000).pop()!;
    const afterStory = await story(ranAfter.tick);
    expect(afterStory.events[0]?.actor).toMatch(new RegExp(`^scheduler ${hostname()}:${second.pid} \\(term \\d+\\)$`));
    if (process.env.DRUMLINE_STORY_OUT) await writeFile(process.env.DRUMLINE_STORY_OUT, JSON.stringify({ ran: ranStory, unrecorded: await story(unrecorded.tick), gap: gapStory, after: afterStory }, null, 2));
  }, 180_000);
});

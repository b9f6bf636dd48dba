import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT, startApp, stopApps, type AppProcess } from '../support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';

// The dashboard and the schedules page in a real browser (Debian's chromium, driven by
// playwright-core), against the built web, scheduler and worker as separate processes on real Redis.

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = join(REPO_ROOT, 'test-results', 'screenshots');
const WAIT_MS = 15_000;

const prefix = uniquePrefix('browser-dashboard');
const API_TOKEN = `browser-${randomBytes(16).toString('hex')}`;
const login = { username: 'browser-admin', password: 'browser-password-long-enough' };
const common = { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, LOG_LEVEL: 'info', RELEASE: 'browser' };

let apps: AppProcess[] = [];
let browser: Browser | undefined;
let signedIn: BrowserContext;
let baseUrl = '';
/** Every address the signed-in pages asked for, in every test of this file. */
const requested: string[] = [];
/** What a page asked for that the web does not serve: it must work where nothing else is reachable. */
const leftTheServer = () => requested.filter((url) => !url.startsWith(`${baseUrl}/`) && !url.startsWith('data:'));

async function api<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** Polls `probe` until it returns something, or fails naming `what` after the deadline. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** A picture for the README, into docs/: only when DRUMLINE_SCREENSHOTS=1 asks, so that a test run leaves the tree clean. */
async function readmeScreenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(REPO_ROOT, 'docs', `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  // CI installs chromium (.ci/run); without it this file must fail, never pass by skipping.
  if (!existsSync(CHROMIUM)) throw new Error(`the browser tests need Debian's chromium at ${CHROMIUM}: apt-get install chromium`);
  await mkdir(SCREENSHOTS, { recursive: true });

  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const web = startApp('web', {
    env: { ...common, PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: login.username, DASHBOARD_PASSWORD: login.password },
  });
  apps = [startApp('worker', { env: common }), startApp('scheduler', { env: common }), web];
  // /readyz answers 200 once the scheduler has run this release's init tasks on the worker.
  await web.waitForHttp(`${baseUrl}/readyz`, 30_000);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  signedIn = await browser.newContext({ httpCredentials: login, viewport: { width: 1400, height: 900 } });
  signedIn.on('request', (request) => requested.push(request.url()));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stopApps(apps);
  const redis = connectTestRedis();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

describe('Bull Board in a browser', () => {
  it('signs in with basic auth and shows every queue, the init queue too', async () => {
    const page = await signedIn.newPage();
    await page.goto(`${baseUrl}/admin/queues`);
    for (const queue of ['default', 'email', 'maintenance', 'reports', 'drumline-init']) {
      await page.getByRole('link', { name: queue, exact: true }).first().waitFor({ timeout: WAIT_MS });
    }
    await page.getByText('Loading').waitFor({ state: 'hidden', timeout: WAIT_MS });
    await screenshot(page, 'dashboard');
    await page.close();
  });

  it('renders in the web fonts it serves itself, and asks nothing of any other server', async () => {
    const page = await signedIn.newPage();
    await page.goto(`${baseUrl}/admin/queues`);
    await page.getByText('Loading').waitFor({ state: 'hidden', timeout: WAIT_MS });
    const fonts = await page.evaluate(async () => {
      await document.fonts.ready;
      return [...document.fonts].filter((font) => font.status === 'loaded').map((font) => `${font.family} ${font.weight}`);
    });
    expect(fonts).toEqual(expect.arrayContaining(['IBM Plex Sans 400', 'IBM Plex Mono 400']));
    expect(requested.some((url) => url.startsWith(`${baseUrl}/admin/queues/fonts/ibm-plex-sans/files/`))).toBe(true);
    expect(leftTheServer()).toEqual([]);
    await page.close();
  });

  it('opens a completed run and shows its result', async () => {
    const enqueued = await api<{ id: string }>('POST', '/api/jobs/ping', { data: { note: 'from the browser test' }, opts: { jobId: 'browser-ping' } });
    expect(enqueued.status).toBe(202);
    await eventually('browser-ping completed', async () => ((await api<{ state: string }>('GET', '/api/jobs/ping/runs/browser-ping')).body.state === 'completed' ? true : undefined));

    const page = await signedIn.newPage();
    await page.goto(`${baseUrl}/admin/queues/queue/default/browser-ping`);
    await page.getByText('from the browser test').first().waitFor({ timeout: WAIT_MS });
    await screenshot(page, 'dashboard-run');
    await page.close();
  });
});

describe('the schedules page in a browser', () => {
  beforeAll(async () => {
    const put = await api('PUT', '/api/schedules/ping-every-5s', { job: 'ping', every: '5s', data: { note: 'heartbeat' } });
    expect(put.status).toBe(201);
    // A run of it has started, so the page has a last run and its lateness to show.
    await eventually('a run of ping-every-5s', async () => {
      const { body } = await api<{ lastRun: { state: string } | null }>('GET', '/api/schedules/ping-every-5s');
      return body.lastRun?.state === 'completed' ? true : undefined;
    }, 30_000);
  });

  it('is linked from Bull Board, and links back', async () => {
    const page = await signedIn.newPage();
    await page.goto(`${baseUrl}/admin/queues`);
    const link = page.locator('a[href="/admin/schedules"]');
    if (!(await link.isVisible())) await page.locator('header button').last().click();
    await link.click();
    await page.waitForURL(`${baseUrl}/admin/schedules`);
    await page.getByRole('link', { name: 'Queues (Bull Board)' }).click();
    await page.waitForURL(`${baseUrl}/admin/queues`);
    await page.close();
  });

  it('shows every schedule, and its Pause button pauses the schedule, as the API then says', async () => {
    const page = await signedIn.newPage();
    await page.goto(`${baseUrl}/admin/schedules`);
    for (const id of ['cleanup-sessions', 'daily-report-team', 'expire-coupons-nightly', 'ping-every-5s']) {
      await page.locator(`tr[data-schedule="${id}"]`).waitFor({ timeout: WAIT_MS });
    }
    const row = page.locator('tr[data-schedule="ping-every-5s"]');
    // Its last run (completed, or the next one already active) with the run's link and lateness:
    // never negative, since a run that started before its tick is a bug the page must not hide.
    expect(await row.locator('td.last-run').innerText()).toMatch(/^(completed|active) ping-every-5s@\d+\s+for .+ UTC, [\d.]+ m?s late/);
    await screenshot(page, 'schedules');

    await row.getByRole('button', { name: 'Pause' }).click();
    await row.getByRole('button', { name: 'Resume' }).waitFor({ timeout: WAIT_MS });
    expect(await row.locator('.status').innerText()).toBe('paused');
    const { body } = await api<{ paused: boolean }>('GET', '/api/schedules/ping-every-5s');
    expect(body.paused).toBe(true);
    await screenshot(page, 'schedules-paused');
    await page.close();
  });

  it('Run now enqueues a run and links to it', async () => {
    const page = await signedIn.newPage();
    await page.goto(`${baseUrl}/admin/schedules`);
    await page.locator('tr[data-schedule="daily-report-team"]').getByRole('button', { name: 'Run now' }).click();
    const link = page.locator('#status a');
    await link.waitFor({ timeout: WAIT_MS });
    const runId = await link.innerText();
    expect(runId).toMatch(/^daily-report-team@\d+\.manual$/);
    expect((await api('GET', `/api/jobs/daily-report/runs/${encodeURIComponent(runId)}`)).status).toBe(200);
    await page.close();
  });

  it('answers 401 without credentials, as does the dashboard', async () => {
    const anonymous = await (browser as Browser).newContext();
    const page = await anonymous.newPage();
    for (const path of ['/admin/schedules', '/admin/queues']) {
      const url = `${baseUrl}${path}`;
      // Headless chromium cannot prompt for a login, so the navigation itself fails
      // (net::ERR_INVALID_AUTH_CREDENTIALS); the response it got is what counts.
      const [response] = await Promise.all([page.waitForResponse(url), page.goto(url).catch(() => null)]);
      expect(response.status(), path).toBe(401);
      expect(response.headers()['www-authenticate'], path).toMatch(/^Basic/);
      expect(await response.text(), path).not.toContain('data-schedule');
    }
    await anonymous.close();
  });
});

describe("the schedules page's history in a browser", () => {
  type Ticks = { ticks: { state: string }[] };
  const hasTick = (state: string) => async (id: string) => {
    const { body } = await api<Ticks>('GET', `/api/schedules/${id}/ticks`);
    return body.ticks.some((tick) => tick.state === state) ? true : undefined;
  };

  beforeAll(async () => {
    // One that runs every second, one whose every attempt fails, one whose runs outlast its period (overlap: skip).
    const schedules = {
      'history-every-1s': { job: 'ping', every: '1s', data: { note: 'one tick of history-every-1s' } },
      'history-failing': { job: 'ping', every: '3s', data: { failWith: 'upstream said no' } },
      'history-overlapping': { job: 'ping', every: '1s', data: { sleepMs: 2500 }, overlap: 'skip' },
    };
    for (const [id, body] of Object.entries(schedules)) expect((await api('PUT', `/api/schedules/${id}`, body)).status).toBe(201);
    await eventually('a tick of history-every-1s that ran', () => hasTick('ran')('history-every-1s'), 30_000);
    await eventually('a tick of history-failing that failed', () => hasTick('failed')('history-failing'), 30_000);
    await eventually('a tick of history-overlapping skipped', () => hasTick('skipped:overlap')('history-overlapping'), 30_000);
  }, 100_000);

  it("draws each schedule's ticks, and a tick that ran leads to its story, naming the worker, and on to its run in Bull Board", async () => {
    const page = await signedIn.newPage();
    await page.goto(`${baseUrl}/admin/schedules`);
    const row = page.locator('tr[data-schedule="history-every-1s"]');
    const ran = row.locator('a.tick[data-state="ran"]').last();
    await ran.waitFor({ timeout: WAIT_MS });
    await page.locator('tr[data-schedule="history-failing"] a.tick[data-state="failed"]').first().waitFor({ timeout: WAIT_MS });
    expect(await row.locator('.counts').innerText()).toMatch(/^24 h: [1-9]\d* ran \d+ failed \d+ skipped \d+ missed$/);
    if (process.env.DRUMLINE_SCREENSHOTS === '1') {
      // A picture worth showing has a strip longer than the test needs.
      const ran = async () => (await api<Ticks>('GET', '/api/schedules/history-every-1s/ticks')).body.ticks.filter((tick) => tick.state === 'ran').length;
      await eventually('25 ticks of history-every-1s that ran', async () => ((await ran()) >= 25 ? true : undefined), 60_000);
      await page.reload();
      await readmeScreenshot(page, 'schedules-page');
    }
    await screenshot(page, 'schedules-history');

    const label = await ran.getAttribute('title');
    expect(label).toMatch(/UTC: ran, [\d.]+ m?s late$/);
    await ran.click();
    await page.waitForURL(/\/admin\/schedules\/history-every-1s\/ticks\/\d{4}-\d\d-\d\dT/);
    const worker = `worker ${hostname()}:${apps[0]?.pid ?? 0}`;
    expect(await page.locator('.summary').innerText()).toMatch(new RegExp(`^ran: ${worker.replace(/[.]/g, '\\.')} completed it in`));
    expect(await page.locator('table.events').innerText()).toContain(worker);
    await screenshot(page, 'tick-story');

    const runLink = page.locator('a.run-link');
    const runId = await runLink.innerText();
    expect(runId).toMatch(/^history-every-1s@\d+$/);
    await runLink.click();
    await page.waitForURL(`${baseUrl}/admin/queues/queue/default/${encodeURIComponent(runId)}`);
    await page.getByText('one tick of history-every-1s').first().waitFor({ timeout: WAIT_MS });
    await page.close();
  });

  it('finds schedules by id or job with the search box, keeping the search in the address', async () => {
    const page = await signedIn.newPage();
    await page.goto(`${baseUrl}/admin/schedules`);
    const search = page.getByRole('searchbox', { name: 'Search schedules by id or job' });
    await search.fill('PING');
    await search.press('Enter');
    await page.waitForURL(`${baseUrl}/admin/schedules?q=PING`);
    const listed = await page.locator('tr[data-schedule]').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.schedule));
    // Every schedule of the job `ping`, and nothing else.
    expect(listed).toEqual(['history-every-1s', 'history-failing', 'history-overlapping', 'ping-every-5s']);
    expect(await search.inputValue()).toBe('PING');

    await search.fill('daily');
    await search.press('Enter');
    await page.waitForURL(`${baseUrl}/admin/schedules?q=daily`);
    expect(await page.locator('tr[data-schedule]').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.schedule))).toEqual(['daily-report-team']);
    await page.close();
  });

  it('refreshes the listing by itself, with newer ticks, and keeps the search', async () => {
    const page = await signedIn.newPage();
    await page.goto(`${baseUrl}/admin/schedules?q=history-every`);
    const newest = page.locator('tr[data-schedule="history-every-1s"] a.tick').last();
    const before = await newest.getAttribute('href');
    await page.waitForFunction(() => document.body.dataset.refreshed !== undefined, undefined, { timeout: 30_000 });
    expect(await newest.getAttribute('href')).not.toBe(before);
    expect(page.url()).toBe(`${baseUrl}/admin/schedules?q=history-every`);
    expect(await page.locator('tr[data-schedule]').count()).toBe(1);
    await page.close();
  });

  it('holds the refresh while a backfill form is open, keeping what was typed into it', async () => {
    const page = await signedIn.newPage();
    await page.goto(`${baseUrl}/admin/schedules?q=history-every`);
    const row = page.locator('tr[data-schedule="history-every-1s"]');
    await row.getByText('Backfill').click();
    await row.locator('input[name="from"]').fill('2026-12-01T10:00:05');
    await page.waitForFunction(() => document.body.dataset.refreshHeld !== undefined, undefined, { timeout: 30_000 });
    expect(await page.evaluate(() => document.body.dataset.refreshed)).toBeUndefined();
    expect(await row.locator('input[name="from"]').inputValue()).toBe('2026-12-01T10:00:05');
    expect(await row.locator('details.backfill').getAttribute('open')).not.toBeNull();
    await page.close();
  });
});

describe('offline', () => {
  it('no page of this file asked for anything outside the web', () => {
    expect(requested.length).toBeGreaterThan(0);
    expect(leftTheServer()).toEqual([]);
  });
});

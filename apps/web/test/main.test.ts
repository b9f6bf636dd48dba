import { drumlineKeys } from '@drumline/core/runtime';
import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startApp, stopApps, type AppProcess } from '../../../tests/support/processes.js';
import { connectTestRedis, TEST_REDIS_URL, uniquePrefix } from '../../../tests/support/redis.js';
import { API_TOKEN, DASHBOARD_PASSWORD, DASHBOARD_USER, deleteTestKeys } from './web-harness.js';

// The built process, as compose runs it: node apps/web/dist/main.js with nothing but its environment.

const prefix = uniquePrefix('web-main');
const env = { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, API_TOKEN, DASHBOARD_USER, DASHBOARD_PASSWORD };
const apps: AppProcess[] = [];

afterAll(async () => {
  await stopApps(apps);
  await deleteTestKeys(prefix);
});

/** Starts the web on a free port with `extraEnv` and resolves once /healthz answers, with its base URL. */
async function startServing(extraEnv: Record<string, string> = {}): Promise<{ web: AppProcess; base: string }> {
  const port = await freePort();
  const web = startApp('web', { env: { ...env, PORT: String(port), HOST: '127.0.0.1', ...extraEnv } });
  apps.push(web);
  const base = `http://127.0.0.1:${port}`;
  await web.waitForHttp(`${base}/healthz`);
  return { web, base };
}

describe('node apps/web/dist/main.js', () => {
  it('refuses to start without API_TOKEN, exiting 1 with a message naming it', async () => {
    const web = startApp('web', { env: { ...env, API_TOKEN: '' } });
    apps.push(web);
    expect(await web.exited).toEqual({ code: 1, signal: null });
    const stderr = web.lines.filter((line) => line.stream === 'stderr').map((line) => line.text).join('\n');
    expect(stderr).toMatch(/API_TOKEN is required but not set/);
  });

  it('serves on PORT, enqueues through the API, and on SIGTERM closes and exits 0', async () => {
    const { web, base } = await startServing();

    const response = await fetch(`${base}/api/jobs/ping`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { note: 'from main.test' } }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };

    expect(await web.stop()).toEqual({ code: 0, signal: null });
    expect(web.logs().some((log) => log.msg?.startsWith('closing'))).toBe(true);

    const redis = connectTestRedis();
    const queue = new Queue('default', { connection: redis, prefix });
    expect((await queue.getJob(id))?.data).toEqual({ note: 'from main.test' });
    await queue.close();
    await redis.quit();
  });

  it("answers /readyz 503 until the scheduler has marked this release's init tasks done, then 200", async () => {
    const release = `release-${Date.now()}`;
    const { web, base } = await startServing({ RELEASE: release });

    const notYet = await fetch(`${base}/readyz`);
    expect(notYet.status).toBe(503);
    expect(await notYet.json()).toEqual({ status: 'unavailable', reason: `init tasks of release ${release} have not all completed (see the drumline-init queue)` });

    // What the scheduler writes once every init task of the release completed.
    const redis = connectTestRedis();
    await redis.hset(drumlineKeys(prefix).initDone, 'an-older-release', String(Date.now()));
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    await redis.hset(drumlineKeys(prefix).initDone, release, String(Date.now()));
    await redis.quit();
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok' });
    expect(await web.stop()).toEqual({ code: 0, signal: null });
  });

  it('with LOG_PRETTY=true writes each request as one line (method, path, status, time), no probe at info, and no deprecation warning', async () => {
    const { web, base } = await startServing({ LOG_PRETTY: 'true' });
    await (await fetch(`${base}/readyz`)).body?.cancel();
    const enqueue = await fetch(`${base}/api/jobs/ping`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ data: {} }),
    });
    expect(enqueue.status).toBe(202);
    await web.waitForLine(/POST \/api\/jobs\/ping/);
    expect(await web.stop()).toEqual({ code: 0, signal: null });

    const texts = web.lines.map((line) => line.text);
    expect(texts.filter((text) => text.includes('/api/jobs/ping'))).toEqual([expect.stringMatching(/INFO: POST \/api\/jobs\/ping 202 \d+\.\d ms$/)]);
    expect(texts.filter((text) => /healthz|readyz/.test(text))).toEqual([]);
    expect(texts.filter((text) => /deprecat|FSTDEP|Warning/i.test(text))).toEqual([]);
  });

  it('in JSON writes one record per request with method, url, statusCode and responseTime', async () => {
    const { web, base } = await startServing();
    const jobs = await fetch(`${base}/api/jobs`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(jobs.status).toBe(200);
    await jobs.body?.cancel();
    await web.waitForLog((log) => log.url === '/api/jobs');
    expect(await web.stop()).toEqual({ code: 0, signal: null });

    const requestLogs = web.logs().filter((log) => log.url !== undefined);
    expect(requestLogs).toEqual([
      expect.objectContaining({ level: 30, method: 'GET', url: '/api/jobs', statusCode: 200, responseTime: expect.any(Number), msg: expect.stringMatching(/^GET \/api\/jobs 200 /) }),
    ]);
  });
});

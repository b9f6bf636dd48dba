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

describe('node apps/web/dist/main.js', () => {
  it('refuses to start without API_TOKEN, exiting 1 with a message naming it', async () => {
    const web = startApp('web', { env: { ...env, API_TOKEN: '' } });
    apps.push(web);
    expect(await web.exited).toEqual({ code: 1, signal: null });
    const stderr = web.lines.filter((line) => line.stream === 'stderr').map((line) => line.text).join('\n');
    expect(stderr).toMatch(/API_TOKEN is required but not set/);
  });

  it('serves on PORT, enqueues through the API, and on SIGTERM closes and exits 0', async () => {
    const port = await freePort();
    const web = startApp('web', { env: { ...env, PORT: String(port), HOST: '127.0.0.1' } });
    apps.push(web);
    const base = `http://127.0.0.1:${port}`;
    await web.waitForHttp(`${base}/healthz`);

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
    const port = await freePort();
    const release = `release-${Date.now()}`;
    const web = startApp('web', { env: { ...env, PORT: String(port), HOST: '127.0.0.1', RELEASE: release } });
    apps.push(web);
    const base = `http://127.0.0.1:${port}`;
    await web.waitForHttp(`${base}/healthz`);

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
});

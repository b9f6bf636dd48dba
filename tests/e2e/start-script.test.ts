import { Queue, type Job } from 'bullmq';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AppProcess, freePort, REPO_ROOT, TEST_JOBS_MODULE, type Exit } from '../support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';

// `pnpm start` is `turbo run build && node scripts/start.mjs`; these run the script on the built
// apps, as a user's terminal or a process manager would: its own process group, signals sent to
// that group (what Ctrl-C and `kill -TERM -- -PGID` do), its output read as a user reads it.

const prefix = uniquePrefix('start-script');
const API_TOKEN = `start-${randomBytes(16).toString('hex')}`;
const testRedis = connectTestRedis();
const started: AppProcess[] = [];
const dirs: string[] = [];

interface Stack {
  script: AppProcess;
  webUrl: string;
  redisUrl: string;
}

/** The script's environment: ports of its own, so it runs beside anything else on this machine. */
async function stackEnv(redisUrl: string): Promise<{ env: Record<string, string>; webUrl: string }> {
  const port = await freePort();
  const env = {
    REDIS_URL: redisUrl,
    KEY_PREFIX: prefix,
    PORT: String(port),
    WORKER_METRICS_PORT: String(await freePort()),
    SCHEDULER_METRICS_PORT: String(await freePort()),
    LOG_PRETTY: 'false',
    RELEASE: 'start-script',
    JOBS_MODULE: TEST_JOBS_MODULE,
    API_TOKEN,
    SHUTDOWN_GRACE_MS: '20000',
  };
  return { env, webUrl: `http://127.0.0.1:${port}` };
}

/** Runs `command` in a process group of its own, as a shell runs a foreground job. */
function startGroup(name: string, command: string, args: string[], env: Record<string, string>): AppProcess {
  const child: ChildProcess = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const app = new AppProcess(name, child);
  started.push(app);
  return app;
}

/** Sends `signal` to the whole process group of `app`, as the terminal does on Ctrl-C. */
function signalGroup(app: AppProcess, signal: NodeJS.Signals): void {
  process.kill(-app.pid, signal);
}

async function enqueuePing(webUrl: string, sleepMs: number): Promise<string> {
  const response = await fetch(`${webUrl}/api/jobs/ping`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ data: { sleepMs, note: 'start-script' } }),
  });
  const body = (await response.json()) as { id: string };
  expect(response.status, JSON.stringify(body)).toBe(202);
  return body.id;
}

/** Polls BullMQ until the run is in `state`. */
async function waitForState(queue: Queue, id: string, state: string, script: AppProcess, timeoutMs = 20_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await queue.getJob(id);
    if (job && (await job.getState()) === state) return job;
    if (script.exitStatus) throw new Error(`the script exited before run ${id} was ${state}\n${script.output()}`);
    if (Date.now() > deadline) throw new Error(`run ${id} was not ${state} within ${timeoutMs} ms\n${script.output()}`);
    await sleep(50);
  }
}

async function waitForExit(app: AppProcess, timeoutMs = 45_000): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${app.name} did not exit within ${timeoutMs} ms\n${app.output()}`)), timeoutMs);
  });
  try {
    return await Promise.race([app.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Index of the first output line matching, or fails naming it. */
function lineIndex(app: AppProcess, match: RegExp): number {
  const index = app.lines.findIndex((line) => match.test(line.text));
  if (index < 0) throw new Error(`no line of ${app.name} matches ${String(match)}\n${app.output()}`);
  return index;
}

/** A parsed JSON log line an app wrote through the script (`<app>   | {...}`). */
function appLog(app: AppProcess, name: string, match: (log: Record<string, unknown>) => boolean): boolean {
  return app.lines.some((line) => {
    const prefixed = new RegExp(`^${name} *\\| (\\{.*)$`).exec(line.text);
    if (!prefixed?.[1]) return false;
    try {
      return match(JSON.parse(prefixed[1]) as Record<string, unknown>);
    } catch {
      return false;
    }
  });
}

/** Starts the script with a Redis of its own: REDIS_URL points at a free port where nothing answers. */
async function startWithOwnRedis(): Promise<Stack> {
  const redisUrl = `redis://127.0.0.1:${await freePort()}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'drumline-start-redis-'));
  dirs.push(dataDir);
  const { env, webUrl } = await stackEnv(redisUrl);
  const script = startGroup('start', process.execPath, ['scripts/start.mjs'], { ...env, REDIS_DATA_DIR: dataDir });
  await script.waitForLine(/^Drumline is running\.$/, 60_000);
  return { script, webUrl, redisUrl };
}

afterEach(async () => {
  // A failed test must not leave a stack behind: a second signal makes the script kill its apps.
  for (const app of started.splice(0)) {
    if (app.exitStatus) continue;
    signalGroup(app, 'SIGINT');
    await sleep(200);
    if (!app.exitStatus) signalGroup(app, 'SIGINT');
    await waitForExit(app, 10_000).catch(() => signalGroup(app, 'SIGKILL'));
  }
});

afterAll(async () => {
  await deleteKeys(testRedis, prefix);
  testRedis.disconnect();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('pnpm start (scripts/start.mjs)', () => {
  it('on Ctrl-C with its output piped into a reader that has exited, drains the running job, which completes once, and exits 0', async () => {
    const { env, webUrl } = await stackEnv(TEST_REDIS_URL);
    // `head -n 1` exits after the first line, like `tee` on Ctrl-C: every later write hits a closed pipe.
    const shell = startGroup('pipeline', 'bash', ['-c', 'node scripts/start.mjs | head -n 1 >/dev/null; exit "${PIPESTATUS[0]}"'], env);
    const queue = new Queue('default', { connection: testRedis, prefix });
    try {
      const deadline = Date.now() + 60_000;
      while (!(await fetch(`${webUrl}/healthz`).then((r) => r.ok, () => false))) {
        if (shell.exitStatus || Date.now() > deadline) throw new Error(`the web did not answer\n${shell.output()}`);
        await sleep(100);
      }
      const id = await enqueuePing(webUrl, 3000);
      await waitForState(queue, id, 'active', shell);

      signalGroup(shell, 'SIGINT');
      const exit = await waitForExit(shell);

      expect(exit, shell.output()).toEqual({ code: 0, signal: null });
      const job = await queue.getJob(id);
      expect(await job?.getState()).toBe('completed');
      expect(job?.attemptsMade).toBe(1);
      expect(job?.returnvalue).toMatchObject({ note: 'start-script' });
      expect(shell.output()).not.toMatch(/EPIPE|killing/);
    } finally {
      await queue.close();
    }
  });

  it.each(['SIGINT', 'SIGTERM'] as const)(
    'starts its own Redis when none answers, prefixes each app line with its name, and on %s to its group drains the apps before it stops that Redis',
    async (signal) => {
      const { script, webUrl, redisUrl } = await startWithOwnRedis();
      expect(script.output()).toMatch(/start *\| nothing answers at redis:\/\/127\.0\.0\.1:\d+: starting redis-server/);
      for (const app of ['web', 'scheduler', 'worker']) expect(script.lines.some((line) => line.text.startsWith(`${app.padEnd(9)}| `)), app).toBe(true);
      expect(appLog(script, 'worker', (log) => log.msg === 'worker ready')).toBe(true);

      const redis = new Redis(redisUrl, { maxRetriesPerRequest: null, retryStrategy: () => null });
      redis.on('error', () => undefined); // it goes away at the end, on purpose
      const queue = new Queue('default', { connection: redis, prefix });
      const id = await enqueuePing(webUrl, 1500);
      await waitForState(queue, id, 'active', script);
      await queue.close();
      redis.disconnect();

      signalGroup(script, signal);
      const exit = await waitForExit(script);

      expect(exit, script.output()).toEqual({ code: 0, signal: null });
      expect(appLog(script, 'worker', (log) => log.msg === 'shutting down: taking no more jobs' && log.running === 1)).toBe(true);
      expect(appLog(script, 'worker', (log) => log.msg === 'worker stopped' && log.outcome === 'finished')).toBe(true);
      const redisStops = lineIndex(script, /^start *\| the apps have stopped; stopping Redis$/);
      for (const last of [/^worker *\| .*"worker stopped"/, /^scheduler *\| .*"stopped"/]) expect(lineIndex(script, last)).toBeLessThan(redisStops);
      expect(lineIndex(script, /^redis *\| .*SIGTERM/)).toBeGreaterThan(redisStops);
    },
  );

  it('stops everything and exits 1 when an app dies on its own', async () => {
    const { script, webUrl, redisUrl } = await startWithOwnRedis();
    const ready = script.lines.map((line) => /^worker *\| (\{.*"worker ready".*\})$/.exec(line.text)?.[1]).find(Boolean);
    const workerPid = (JSON.parse(ready ?? '{}') as { pid?: number }).pid;
    expect(workerPid).toBeTypeOf('number');

    process.kill(workerPid as number, 'SIGKILL');
    const exit = await waitForExit(script);

    expect(exit, script.output()).toEqual({ code: 1, signal: null });
    expect(script.output()).toMatch(/start *\| worker exited on its own \(SIGKILL\); stopping everything/);
    expect(await fetch(`${webUrl}/healthz`).then(() => 'answered', () => 'gone')).toBe('gone');
    const probe = new Redis(redisUrl, { lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => undefined);
    await expect(probe.connect()).rejects.toThrow();
    probe.disconnect();
  });
});

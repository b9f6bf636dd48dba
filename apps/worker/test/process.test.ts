import { closeRedis, createJobRegistry, QueueSet } from '@drumline/core/runtime';
import { jobs } from '@drumline/test-jobs';
import { afterAll, describe, expect, it } from 'vitest';
import { startApp, stopApps, type AppProcess } from '../../../tests/support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../../../tests/support/redis.js';

// The built worker as compose runs it (`pnpm test` builds it first).
const prefix = uniquePrefix('worker-process');
const redis = connectTestRedis();
const queues = new QueueSet(createJobRegistry(jobs), redis, prefix);
const apps: AppProcess[] = [];

function startWorker(env: Record<string, string> = {}): AppProcess {
  const worker = startApp('worker', { env: { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, ...env } });
  apps.push(worker);
  return worker;
}

afterAll(async () => {
  await stopApps(apps);
  await queues.close();
  await deleteKeys(redis, prefix);
  await closeRedis(redis);
});

describe('the worker process', () => {
  it('refuses to start with a bad variable: exit code 1 and a message naming it on stderr', async () => {
    const worker = startWorker({ WORKER_QUEUES: 'default,nope', WORKER_CONCURRENCY: 'many' });
    expect(await worker.exited).toEqual({ code: 1, signal: null });
    const stderr = worker.lines.filter((line) => line.stream === 'stderr').map((line) => line.text).join('\n');
    expect(stderr).toContain('WORKER_CONCURRENCY must be a whole number');
    const unknownQueue = startWorker({ WORKER_QUEUES: 'default,nope' });
    expect(await unknownQueue.exited).toEqual({ code: 1, signal: null });
    expect(unknownQueue.output()).toMatch(/WORKER_QUEUES names no job's queue: nope \(known queues: .*default/);
  });

  it('refuses to start when JOBS_MODULE cannot be loaded or exports no jobs list: one line naming JOBS_MODULE', async () => {
    const missing = startWorker({ JOBS_MODULE: './no/such/jobs.js' });
    expect(await missing.exited).toEqual({ code: 1, signal: null });
    expect(missing.lines.map((line) => line.text)).toEqual([expect.stringMatching(/^worker: JOBS_MODULE: `\.\/no\/such\/jobs\.js` cannot be loaded: .*no\/such\/jobs\.js/)]);
    // A module that loads but is not a jobs module: core's own entry.
    const notJobs = startWorker({ JOBS_MODULE: './packages/core/dist/index.js' });
    expect(await notJobs.exited).toEqual({ code: 1, signal: null });
    expect(notJobs.lines.map((line) => line.text)).toEqual(['worker: JOBS_MODULE: `./packages/core/dist/index.js` exports no `jobs` list (export const jobs = [...] as const)']);
  });

  it('on SIGTERM finishes a job that ends within the grace period, then exits 0', async () => {
    const worker = startWorker({ SHUTDOWN_GRACE_MS: '10000' });
    await worker.waitForLog((log) => log.msg === 'worker ready');
    const job = await queues.enqueue('ping', { sleepMs: 1500, note: 'finish me' });
    await expect.poll(() => job.getState(), { timeout: 10_000 }).toBe('active');

    expect(await worker.stop()).toEqual({ code: 0, signal: null });
    const run = await queues.findRun('ping', job.id ?? '');
    expect(await run?.getState()).toBe('completed');
    expect(run?.returnvalue).toMatchObject({ pid: worker.pid, note: 'finish me' });
    expect(worker.logs().find((log) => log.msg === 'worker stopped')).toMatchObject({ outcome: 'finished' });
  });

  it('on SIGTERM puts a job that outlives the grace period back in its queue, unspent, then exits 0', async () => {
    const worker = startWorker({ SHUTDOWN_GRACE_MS: '300' });
    await worker.waitForLog((log) => log.msg === 'worker ready');
    const job = await queues.enqueue('ping', { sleepMs: 60_000 });
    await expect.poll(() => job.getState(), { timeout: 10_000 }).toBe('active');

    expect(await worker.stop()).toEqual({ code: 0, signal: null });
    const run = await queues.findRun('ping', job.id ?? '');
    expect(await run?.getState()).toBe('waiting');
    expect(run?.attemptsMade).toBe(0);
    expect(worker.logs().find((log) => log.msg === 'worker stopped')).toMatchObject({ outcome: 'requeued' });
    await run?.remove();
  });
});

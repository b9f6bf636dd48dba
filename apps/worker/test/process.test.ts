import { closeRedis, createJobRegistry, QueueSet } from '@drumline/core/runtime';
import { jobs } from '@drumline/jobs';
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

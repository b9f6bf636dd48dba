import { QueueSet, RedisHealth, createJobRegistry, createLogger, createRedis } from '@drumline/core/runtime';
import { initTasks, jobs } from '@drumline/test-jobs';
import { Worker, type Processor, type Queue } from 'bullmq';
import { afterAll, beforeAll } from 'vitest';
import { buildApp, type ReadinessCheck, type WebApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../../../tests/support/redis.js';

export const API_TOKEN = 'test-api-token-0123456789';
export const DASHBOARD_USER = 'operator';
export const DASHBOARD_PASSWORD = 'correct-horse-battery';

/** Headers that pass the API's bearer auth. */
export const withToken = { authorization: `Bearer ${API_TOKEN}` };
/** Headers that pass the dashboard's and the docs' basic auth. */
export const withDashboardLogin = {
  authorization: `Basic ${Buffer.from(`${DASHBOARD_USER}:${DASHBOARD_PASSWORD}`).toString('base64')}`,
};

export interface TestWeb {
  app: WebApp;
  queues: QueueSet;
  /** The init tasks' queue, as main.ts gives it to the dashboard. */
  initQueues: QueueSet;
  /** The BullMQ queue a job's runs go to, for assertions. */
  queueOf(jobName: string): Queue;
  /** Waiting, delayed, prioritized, active, completed and failed runs of every queue, summed. */
  totalRuns(): Promise<number>;
}

/**
 * The web app as main.ts builds it (the real job registry, real BullMQ queues, real Redis),
 * under the test file's own key prefix; drive it with `app.inject()` and close it with `app.close()`.
 */
export async function startWeb(options: { prefix: string; redisUrl?: string; readinessChecks?: ReadinessCheck[]; env?: Record<string, string> }): Promise<TestWeb> {
  const config = loadConfig({
    ...options.env,
    REDIS_URL: options.redisUrl ?? TEST_REDIS_URL,
    KEY_PREFIX: options.prefix,
    LOG_LEVEL: 'silent',
    API_TOKEN,
    DASHBOARD_USER,
    DASHBOARD_PASSWORD,
  });
  const registry = createJobRegistry(jobs);
  const logger = createLogger({ app: 'web-test', level: config.LOG_LEVEL });
  const redisHealth = new RedisHealth({ logger });
  const redis = createRedis(config, { health: redisHealth });
  const queues = new QueueSet(registry, redis, config.KEY_PREFIX, redisHealth);
  const initQueues = new QueueSet(createJobRegistry(initTasks), redis, config.KEY_PREFIX, redisHealth);
  const app = buildApp({ config, registry, queues, initQueues, redis, redisHealth, logger, readinessChecks: options.readinessChecks ?? [] });
  await app.ready();
  return {
    app,
    queues,
    initQueues,
    queueOf: (jobName) => queues.queueOf(registry.get(jobName)),
    async totalRuns() {
      const counts = await Promise.all(queues.all().map((queue) => queue.getJobCounts()));
      return counts.flatMap((count) => Object.values(count)).reduce((sum, n) => sum + n, 0);
    },
  };
}

/** Deletes every key under `prefix`, as each test file does when it is done. */
export async function deleteTestKeys(prefix: string): Promise<void> {
  const redis = connectTestRedis();
  await deleteKeys(redis, prefix);
  await redis.quit();
}

/**
 * One app for the whole test file, under a key prefix of its own: started before the file's tests,
 * closed after them, and its keys deleted. Call at the top of the file; the getter works inside tests.
 */
export function webForThisFile(name: string): () => TestWeb {
  const prefix = uniquePrefix(name);
  let web: TestWeb | undefined;
  beforeAll(async () => {
    web = await startWeb({ prefix });
  });
  afterAll(async () => {
    await web?.app.close();
    await deleteTestKeys(prefix);
  });
  return () => {
    if (!web) throw new Error('the web app is not started yet: use it inside a test');
    return web;
  };
}

/**
 * Runs `processor` on `queue` (one run at a time, in queue order) until every run of `runIds` has
 * completed or failed, then closes the worker: a stand-in for the worker app where a test needs
 * finished runs.
 */
export async function runUntilFinished(web: TestWeb, queue: string, runIds: string | string[], processor: Processor): Promise<void> {
  const pending = new Set(typeof runIds === 'string' ? [runIds] : runIds);
  const connection = connectTestRedis();
  const worker = new Worker(queue, processor, { connection, prefix: web.queues.prefix, concurrency: 1 });
  try {
    await new Promise<void>((resolve) => {
      const settle = (job: { id?: string } | undefined) => {
        if (job?.id !== undefined) pending.delete(job.id);
        if (pending.size === 0) resolve();
      };
      worker.on('completed', settle);
      worker.on('failed', settle);
    });
  } finally {
    await worker.close();
    await connection.quit();
  }
}

import { createJobRegistry, createLogger, defineInitTask, INIT_QUEUE, LeaderElection, QueueSet, ScheduleStore, type InitTaskDefinition } from '@drumline/core/runtime';
import { Worker, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { runInitTasks } from '../src/init-runner.js';

// Init tasks against real Redis and a real BullMQ worker on the init queue: the worker's side is a
// bare processor that records each run, so a test can block or fail a task at will.

const logger = createLogger({ app: 'init-runner-test', level: 'silent' });
const prefix = uniquePrefix('init-runner');
const redis = connectTestRedis();
const workerConnection = connectTestRedis();

const migrate = defineInitTask({ name: 'migrate', handler: () => undefined });
const seed = defineInitTask({ name: 'seed', handler: () => undefined, attempts: 1 });
const tasks: readonly InitTaskDefinition[] = [migrate, seed];
const initQueues = new QueueSet(createJobRegistry(tasks), redis, prefix);
const store = new ScheduleStore(redis, prefix);

/** Every run the worker started: task name and release, in order. */
const runs: string[] = [];
/** A task name → what its next runs do instead of completing at once. */
const behaviour = new Map<string, (job: Job) => Promise<void>>();
let worker: Worker;

async function leader(): Promise<LeaderElection> {
  const election = new LeaderElection(redis, prefix, { leaseTtlMs: 2000, logger });
  const elected = new Promise((resolve) => election.once('elected', resolve));
  election.start();
  await elected;
  return election;
}

function run(election: LeaderElection, release: string) {
  return runInitTasks({ tasks, initQueues, redis, initDoneKey: store.keys.initDone, release, election, logger, pollMs: 25 });
}

beforeAll(async () => {
  worker = new Worker(
    INIT_QUEUE,
    async (job) => {
      runs.push(`${job.name}:${(job.data as { release: string }).release}`);
      await behaviour.get(job.name)?.(job);
    },
    { connection: workerConnection, prefix, concurrency: 2 },
  );
  await worker.waitUntilReady();
});

afterAll(async () => {
  await worker.close();
  await initQueues.close();
  await deleteKeys(redis, prefix);
  await Promise.all([redis.quit(), workerConnection.quit()]);
});

describe('init tasks', () => {
  it('run once per release, in list order, and a later leader of the same release runs none again', async () => {
    const first = await leader();
    expect(await run(first, 'r1')).toBe(true);
    expect(runs).toEqual(['migrate:r1', 'seed:r1']);
    expect(await redis.hexists(store.keys.initDone, 'r1')).toBe(1);
    await first.stop();

    const second = await leader();
    expect(await run(second, 'r1')).toBe(true);
    expect(runs).toEqual(['migrate:r1', 'seed:r1']);
    expect(await run(second, 'r2')).toBe(true);
    expect(runs).toEqual(['migrate:r1', 'seed:r1', 'migrate:r2', 'seed:r2']);
    await second.stop();
  });

  it('a leader taking over while a task runs waits for that run instead of starting another', async () => {
    let finish = () => undefined as void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    behaviour.set('migrate', () => finished);
    runs.length = 0;

    const first = await leader();
    const firstOutcome = run(first, 'r3');
    await expect.poll(() => runs, { timeout: 10_000 }).toEqual(['migrate:r3']);
    await first.stop();
    expect(await firstOutcome).toBe(false);
    expect(await redis.hexists(store.keys.initDone, 'r3')).toBe(0);

    const second = await leader();
    const secondOutcome = run(second, 'r3');
    finish();
    expect(await secondOutcome).toBe(true);
    expect(runs).toEqual(['migrate:r3', 'seed:r3']);
    behaviour.delete('migrate');
    await second.stop();
  });

  it('a task that spent its attempts holds the release until it is retried (as from the dashboard) and completes', async () => {
    let failing = true;
    behaviour.set('seed', async () => {
      if (failing) throw new Error('seed data source unreachable');
    });
    runs.length = 0;
    const election = await leader();
    let settled = false;
    const outcome = run(election, 'r4').finally(() => (settled = true));

    const queue = initQueues.queueOf(seed);
    await expect.poll(async () => (await queue.getJobState('init.seed.r4')) as string, { timeout: 10_000 }).toBe('failed');
    expect(settled).toBe(false);
    expect(await redis.hexists(store.keys.initDone, 'r4')).toBe(0);

    failing = false;
    await (await queue.getJob('init.seed.r4'))?.retry('failed');
    expect(await outcome).toBe(true);
    expect(runs).toEqual(['migrate:r4', 'seed:r4', 'seed:r4']);
    expect(await redis.hexists(store.keys.initDone, 'r4')).toBe(1);
    await election.stop();
  });
});

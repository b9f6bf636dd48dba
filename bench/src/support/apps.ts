import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createJobRegistry, drumlineKeys, jobOptionsFor, keyLayoutOf, queuePrefix, type RedisConnection } from '@drumline/core/runtime';
import { jobs } from '@drumline/test-jobs';
import { Queue, type JobsOptions } from 'bullmq';
import { entries, NodeProcess } from './node-process.js';
import type { RedisTarget } from './redis-server.js';

/** The framework's test jobs (the apps load them with JOBS_MODULE): `ping` is the near-no-op every Drumline run uses. */
export const registry = createJobRegistry(jobs);
export const ping = registry.get('ping');
/** The options every enqueue of `ping` gets from Drumline; the baselines are given the same, so Redis does the same work. */
export const pingOptions: JobsOptions = jobOptionsFor(ping);
/** The release the scheduler runs as; its init tasks are marked done beforehand (see markInitDone). */
export const RELEASE = 'bench';

const JOBS_MODULE = fileURLToPath(import.meta.resolve('@drumline/test-jobs'));

export const API_TOKEN = 'bench-token-0123456789abcdef';

/** An app's env: how it reaches `redis` (REDIS_URL, Sentinel's or the cluster's variables), the key prefix, and `extra`. */
export function appEnv(redis: RedisTarget, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...redis.env(), KEY_PREFIX: prefix, LOG_LEVEL: 'warn', RELEASE, JOBS_MODULE, ...extra };
}

/**
 * Marks the init tasks of RELEASE done, as a first deployment's scheduler does once they ran:
 * the scheduler then goes straight to materializing. Init tasks are not what these scenarios
 * measure, and the worker would otherwise have to consume their queue first.
 */
export async function markInitDone(client: RedisConnection, prefix: string): Promise<void> {
  await client.hset(drumlineKeys(prefix, keyLayoutOf(client)).initDone, RELEASE, String(Date.now()));
}

/** Waits until `count` workers are connected to `queue` (BullMQ names their connections). */
export async function waitForWorkers(redis: RedisTarget, prefix: string, queue: string, count: number, timeoutMs = 15_000, who?: NodeProcess[]): Promise<void> {
  const probe = new Queue(queue, { connection: redis.client, prefix: queuePrefix(prefix, queue, keyLayoutOf(redis.client)) });
  const deadline = Date.now() + timeoutMs;
  try {
    while ((await probe.getWorkersCount()) < count) {
      const dead = who?.find((child) => !child.running);
      if (dead) throw new Error(`${dead.name} exited before its worker connected:\n${dead.tail()}`);
      if (Date.now() > deadline) throw new Error(`fewer than ${count} worker(s) on queue ${queue} after ${timeoutMs} ms`);
      await sleep(25);
    }
  } finally {
    await probe.close();
  }
}

/** Waits until `url` answers 2xx (a readiness probe), failing early if `child` exits. */
export async function waitHttpReady(child: NodeProcess, url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!child.running) throw new Error(`${child.name} exited before ${url} answered:\n${child.tail()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${child.name}: ${url} did not answer 2xx within ${timeoutMs} ms:\n${child.tail()}`);
    await sleep(50);
  }
}

/** Drumline's worker app on `queue` (default: `default`) only, with `extra` env (REDIS_WAIT_REPLICAS, say). */
export function startWorkerApp(redis: RedisTarget, prefix: string, concurrency: number, name = 'drumline worker', queue = 'default', extra: Record<string, string> = {}): NodeProcess {
  return NodeProcess.start(name, entries.worker, appEnv(redis, prefix, { WORKER_QUEUES: queue, WORKER_CONCURRENCY: String(concurrency), ...extra }));
}

/** A bare BullMQ worker with a no-op processor on `queue` (default: `default`) only. */
export function startBareWorker(redis: RedisTarget, prefix: string, concurrency: number, name = 'bare worker', queue = 'default'): NodeProcess {
  return NodeProcess.start(name, entries.bareWorker, { ...redis.env(), KEY_PREFIX: prefix, QUEUES: queue, CONCURRENCY: String(concurrency) });
}

/** Drumline's scheduler app; LOG_LEVEL info, because the scenarios wait for its election and materializing lines. */
export function startSchedulerApp(redis: RedisTarget, prefix: string, name = 'drumline scheduler', extra: Record<string, string> = {}): NodeProcess {
  return NodeProcess.start(name, entries.scheduler, appEnv(redis, prefix, { LOG_LEVEL: 'info', RELEASE, ...extra }));
}

/** Stops every process given, in parallel; ignores those already gone. */
export async function stopAll(processes: (NodeProcess | undefined)[]): Promise<void> {
  await Promise.all(processes.map((child) => child?.stop()));
}

import type { DrumlineKeys, Logger, RedisConnection } from '@drumline/core/runtime';
import { once } from 'node:events';
import type { JobRunner } from './job-runner.js';

/**
 * Listens for cancel requests (published by the web on `runCancels`) and aborts the run if this
 * process holds it; every worker hears every request, and those without the run ignore it.
 * The subscription needs a connection of its own: a subscribed connection can do nothing else.
 */
export async function listenForCancels(subscriber: RedisConnection, keys: DrumlineKeys, runner: JobRunner, logger: Logger): Promise<void> {
  subscriber.on('message', (_channel: string, message: string) => {
    let request: { queue?: unknown; runId?: unknown; reason?: unknown };
    try {
      request = JSON.parse(message) as typeof request;
    } catch {
      logger.warn({ message }, 'ignoring a cancel request that is not JSON');
      return;
    }
    if (typeof request.queue !== 'string' || typeof request.runId !== 'string') return;
    const reason = typeof request.reason === 'string' ? request.reason : 'cancelled';
    if (runner.cancel(request.queue, request.runId, reason)) logger.info({ queue: request.queue, runId: request.runId, reason }, 'run cancelled');
  });
  // Subscribe once connected: ioredis's ready check (INFO) after a queued SUBSCRIBE would be refused
  // by a connection already in subscriber mode.
  if (subscriber.status !== 'ready') await once(subscriber, 'ready');
  await subscriber.subscribe(keys.runCancels);
}

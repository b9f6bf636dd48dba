import { ConfigError, createJobRegistry, defineJob } from '@drumline/core/runtime';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadWorkerConfig } from '../src/config.js';

const registry = createJobRegistry([
  defineJob({ name: 'mail', queue: 'email', schema: z.object({}), handler: () => undefined }),
  defineJob({ name: 'tidy', queue: 'maintenance', schema: z.object({}), handler: () => undefined }),
]);

function configError(env: Record<string, string>): ConfigError {
  try {
    loadWorkerConfig(env, registry);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('worker config', () => {
  it('takes every queue of the registry and the documented defaults when nothing is set', () => {
    const config = loadWorkerConfig({}, registry);
    expect(config).toMatchObject({
      WORKER_QUEUES: ['email', 'maintenance'],
      WORKER_CONCURRENCY: 10,
      SHUTDOWN_GRACE_MS: 30_000,
      WORKER_LOCK_MS: 30_000,
      KEY_PREFIX: 'drumline',
    });
  });

  it('takes only the queues WORKER_QUEUES lists, trimmed and without repeats', () => {
    const config = loadWorkerConfig({ WORKER_QUEUES: ' maintenance , maintenance', WORKER_CONCURRENCY: '3', WORKER_LOCK_MS: '2000' }, registry);
    expect(config.WORKER_QUEUES).toEqual(['maintenance']);
    expect(config.WORKER_CONCURRENCY).toBe(3);
    expect(config.WORKER_LOCK_MS).toBe(2000);
  });

  it('refuses an unknown queue with a message naming WORKER_QUEUES, the culprit and the known queues', () => {
    const error = configError({ WORKER_QUEUES: 'email,emails' });
    expect(error.variables).toEqual(['WORKER_QUEUES']);
    expect(error.message).toContain('WORKER_QUEUES');
    expect(error.message).toContain('emails');
    expect(error.message).toContain('known queues: email, maintenance');
  });

  it('refuses METRICS_PORT without METRICS_TOKEN, naming METRICS_TOKEN: the metrics port is never open without credentials', () => {
    const error = configError({ METRICS_PORT: '9100' });
    expect(error.variables).toEqual(['METRICS_TOKEN']);
    expect(error.message).toContain('METRICS_TOKEN is required when METRICS_PORT is set');
  });

  it('names a malformed METRICS_TOKEN, METRICS_PORT, ALERT_WEBHOOK_URL and PUBLIC_URL', () => {
    const error = configError({ METRICS_PORT: '70000', METRICS_TOKEN: 'short', ALERT_WEBHOOK_URL: 'ftp://x', PUBLIC_URL: 'nope' });
    expect(error.variables).toEqual(expect.arrayContaining(['METRICS_PORT', 'METRICS_TOKEN', 'ALERT_WEBHOOK_URL', 'PUBLIC_URL']));
    const ok = loadWorkerConfig({ METRICS_PORT: '9100', METRICS_TOKEN: 'metrics-token-0123456789', ALERT_WEBHOOK_URL: 'https://hooks.example.com/x' }, registry);
    expect(ok).toMatchObject({ METRICS_PORT: 9100, METRICS_HOST: '0.0.0.0', ALERT_WEBHOOK_URL: 'https://hooks.example.com/x' });
  });

  it('names each malformed variable', () => {
    const error = configError({ WORKER_CONCURRENCY: 'lots', SHUTDOWN_GRACE_MS: '-1', WORKER_LOCK_MS: '10', REDIS_URL: 'http://x' });
    expect(error.variables).toEqual(expect.arrayContaining(['WORKER_CONCURRENCY', 'SHUTDOWN_GRACE_MS', 'WORKER_LOCK_MS', 'REDIS_URL']));
    expect(error.message).toMatch(/WORKER_CONCURRENCY must be a whole number/);
    expect(error.message).toMatch(/WORKER_LOCK_MS .*1000/);
  });
});

import { ConfigError } from '@drumline/core/runtime';
import { describe, expect, it } from 'vitest';
import { loadSchedulerConfig } from '../src/config.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadSchedulerConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('scheduler config', () => {
  it("takes the documented defaults: a one-minute dead-man's switch, no metrics port, no alert webhook", () => {
    expect(loadSchedulerConfig({})).toMatchObject({ SCHEDULE_OVERDUE_MS: 60_000, METRICS_HOST: '0.0.0.0' });
    const config = loadSchedulerConfig({});
    expect(config.METRICS_PORT).toBeUndefined();
    expect(config.ALERT_WEBHOOK_URL).toBeUndefined();
  });

  it('refuses METRICS_PORT without METRICS_TOKEN, naming METRICS_TOKEN', () => {
    const error = configError({ METRICS_PORT: '9101' });
    expect(error.variables).toEqual(['METRICS_TOKEN']);
    expect(error.message).toContain('METRICS_TOKEN is required when METRICS_PORT is set');
  });

  it('names a malformed SCHEDULE_OVERDUE_MS, ALERT_WEBHOOK_URL and PUBLIC_URL', () => {
    const error = configError({ SCHEDULE_OVERDUE_MS: 'soon', ALERT_WEBHOOK_URL: 'not a url', PUBLIC_URL: 'mailto:ops@example.com' });
    expect(error.variables).toEqual(expect.arrayContaining(['SCHEDULE_OVERDUE_MS', 'ALERT_WEBHOOK_URL', 'PUBLIC_URL']));
    expect(error.message).toContain('SCHEDULE_OVERDUE_MS must be a whole number');
  });

  it('promotes ticks 300 ms ahead by default, and refuses SCHEDULER_PROMOTE_AHEAD_MS beyond 1000, naming it', () => {
    expect(loadSchedulerConfig({}).SCHEDULER_PROMOTE_AHEAD_MS).toBe(300);
    expect(loadSchedulerConfig({ SCHEDULER_PROMOTE_AHEAD_MS: '0' }).SCHEDULER_PROMOTE_AHEAD_MS).toBe(0);
    const error = configError({ SCHEDULER_PROMOTE_AHEAD_MS: '5000' });
    expect(error.variables).toEqual(['SCHEDULER_PROMOTE_AHEAD_MS']);
    expect(error.message).toContain('SCHEDULER_PROMOTE_AHEAD_MS');
  });
});

import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetricsRegistry, createRunMetrics } from './metrics.js';
import { DURATION_BUCKETS } from './run-series.js';

/** The lines of one metric family in an exposition, without the HELP and TYPE lines. */
function samplesOf(exposition: string, family: string): string[] {
  return exposition.split('\n').filter((line) => line.startsWith(`${family}_`) || line.startsWith(`${family}{`));
}

describe('run series', () => {
  it('exposes the duration histogram exactly as a prom-client Histogram fed the same values would', async () => {
    const durations = [0, 0.004, 0.005, 0.0051, 0.3, 1, 7, 299, 300, 301, 1e6];
    const ours = new Registry();
    const metrics = createRunMetrics(ours);
    const theirs = new Registry();
    const reference = new Histogram({ name: 'drumline_run_duration_seconds', help: 'x', labelNames: ['job'], buckets: [...DURATION_BUCKETS], registers: [theirs] });
    for (const seconds of durations) {
      metrics.of('ping').observeDuration(seconds);
      reference.labels('ping').observe(seconds);
    }
    const family = 'drumline_run_duration_seconds';
    expect(samplesOf(await ours.metrics(), family)).toEqual(samplesOf(await theirs.metrics(), family));
  });

  it('exposes every outcome of each job that ran, zeros included', async () => {
    const registry = createMetricsRegistry('worker');
    const metrics = createRunMetrics(registry);
    metrics.of('ping').completed += 3;
    metrics.of('ping').retried += 1;
    const lines = samplesOf(await registry.metrics(), 'drumline_runs_total');
    expect(lines).toEqual([
      'drumline_runs_total{job="ping",outcome="completed",app="worker"} 3',
      'drumline_runs_total{job="ping",outcome="failed",app="worker"} 0',
      'drumline_runs_total{job="ping",outcome="retried",app="worker"} 1',
      'drumline_runs_total{job="ping",outcome="skipped",app="worker"} 0',
    ]);
  });
});

import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetricsRegistry, createRunMetrics } from './metrics.js';
import { DURATION_BUCKETS, JobRunSeries, registerRunSeries, RUNS_HELP } from './run-series.js';

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

  it('writes the same exposition, HELP and TYPE lines included, as prom-client Counter and Histogram fed the same values', async () => {
    const ours = new Registry();
    const series = new Map([['ping', new JobRunSeries()], ['send-email', new JobRunSeries()]]);
    registerRunSeries(ours, series);
    const metrics = { of: (job: string) => series.get(job) as JobRunSeries };
    const theirs = new Registry();
    const runs = new Counter({ name: 'drumline_runs_total', help: RUNS_HELP, labelNames: ['job', 'outcome'], registers: [theirs] });
    const durations = new Histogram({
      name: 'drumline_run_duration_seconds',
      help: "Time a run's handler took, per attempt, whatever its outcome",
      labelNames: ['job'],
      buckets: [...DURATION_BUCKETS],
      registers: [theirs],
    });
    for (const [job, seconds] of [['ping', 0.02], ['send-email', 3], ['ping', 400]] as const) {
      metrics.of(job).observeDuration(seconds);
      durations.labels(job).observe(seconds);
    }
    for (const job of ['ping', 'send-email']) for (const outcome of ['completed', 'failed', 'retried', 'skipped']) runs.labels(job, outcome).inc(0);
    metrics.of('ping').failed += 2;
    runs.labels('ping', 'failed').inc(2);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });
});

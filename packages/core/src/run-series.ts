import type { Registry } from 'prom-client';

/** Seconds: from a fast handler (a few ms) to the default timeout's scale (minutes). */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export const RUNS_HELP =
  'Runs by outcome: completed, failed (final: no attempt left), retried (failed, another attempt follows), skipped (a scheduled tick not run)';
const OUTCOMES = ['completed', 'failed', 'retried', 'skipped'] as const;

/**
 * One job's run counts and handler-duration histogram as plain numbers. The worker bumps them once
 * or twice per run; prom-client's own metrics would build a label hash string and a values object
 * on every update, which the throughput benchmark shows (about 4 µs a run). The registry reads
 * these only when scraped.
 */
export class JobRunSeries {
  completed = 0;
  failed = 0;
  retried = 0;
  skipped = 0;
  /** Per bucket of DURATION_BUCKETS, runs that took at most that long and more than the bucket before. */
  readonly durationBuckets = new Float64Array(DURATION_BUCKETS.length);
  durationSum = 0;
  durationCount = 0;

  observeDuration(seconds: number): void {
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[bucket] as number)) bucket += 1;
    if (bucket < DURATION_BUCKETS.length) this.durationBuckets[bucket] = (this.durationBuckets[bucket] as number) + 1;
    this.durationSum += seconds;
    this.durationCount += 1;
  }
}

type Sample = { metricName?: string; labels: Record<string, string | number>; value: number };

/**
 * Registers `drumline_runs_total{job,outcome}` and `drumline_run_duration_seconds{job}` on
 * `registry`, read from `series` at scrape time in the exposition prom-client's Counter and
 * Histogram produce (every outcome of a job, zeros included, so rates start from a known 0).
 */
export function registerRunSeries(registry: Registry, series: ReadonlyMap<string, JobRunSeries>): void {
  const runs = {
    name: 'drumline_runs_total',
    help: RUNS_HELP,
    type: 'counter',
    aggregator: 'sum',
    async get() {
      const values: Sample[] = [];
      for (const [job, counts] of series) for (const outcome of OUTCOMES) values.push({ labels: { job, outcome }, value: counts[outcome] });
      return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
    },
    reset() {},
  };
  const duration = {
    name: 'drumline_run_duration_seconds',
    help: "Time a run's handler took, per attempt, whatever its outcome",
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: Sample[] = [];
      for (const [job, counts] of series) {
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, index) => {
          cumulative += counts.durationBuckets[index] as number;
          values.push({ metricName: `${this.name}_bucket`, labels: { le, job }, value: cumulative });
        });
        values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', job }, value: counts.durationCount });
        values.push({ metricName: `${this.name}_sum`, labels: { job }, value: counts.durationSum });
        values.push({ metricName: `${this.name}_count`, labels: { job }, value: counts.durationCount });
      }
      return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
    },
    reset() {},
  };
  // prom-client's registry takes any object with name, help, type and get(); its types list only its own classes.
  for (const metric of [runs, duration]) registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}



import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RedisHealth } from './redis-health.js';
import { JobRunSeries, registerRunSeries, RUNS_HELP } from './run-series.js';

// Metric names and labels are part of Drumline's public API: dashboards and alert rules depend on
// them. Rename one only with a release note; README "Metrics and alerts" lists them all.

/** How a run ended, as `drumline_runs_total` counts it. */
export type RunOutcome = 'completed' | 'failed' | 'retried' | 'skipped';

/** The states `drumline_queue_jobs` reports, in BullMQ's names. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/** Seconds: a tick normally starts within tens of ms; the misfire threshold is 5 s. */
const LATENESS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * The one prom-client registry of a process, with Node's default process metrics (CPU, memory,
 * event loop lag, GC), labelled `app` so the three kinds of process are told apart in one query.
 */
export function createMetricsRegistry(app: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ app });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Registers `drumline_redis_up`: 1 while every Redis connection of the process is ready, else 0. */
export function createRedisUpGauge(registry: Registry, health: RedisHealth): Gauge {
  return new Gauge({
    name: 'drumline_redis_up',
    help: 'Whether this process reaches Redis: 1 while every one of its connections is ready, else 0',
    registers: [registry],
    collect() {
      this.set(health.up ? 1 : 0);
    },
  });
}

/** What a worker records about the runs it takes. */
export interface RunMetrics {
  /**
   * A job's `drumline_runs_total{job,outcome}` and `drumline_run_duration_seconds{job}` (a
   * handler's time, per attempt): plain numbers to bump, made on first use and kept.
   */
  of(job: string): JobRunSeries;
  /** `drumline_schedule_lateness_seconds{schedule}`: a scheduled run's start minus its nominal tick. */
  readonly lateness: Histogram<'schedule'>;
}

/** Registers the worker's run metrics on `registry`. */
export function createRunMetrics(registry: Registry): RunMetrics {
  const series = new Map<string, JobRunSeries>();
  registerRunSeries(registry, series);
  return {
    of(job) {
      let found = series.get(job);
      if (!found) {
        found = new JobRunSeries();
        series.set(job, found);
      }
      return found;
    },
    lateness: new Histogram({
      name: 'drumline_schedule_lateness_seconds',
      help: 'Start of a scheduled run minus its nominal tick (scheduledFor)',
      labelNames: ['schedule'],
      buckets: LATENESS_BUCKETS,
      registers: [registry],
    }),
  };
}

/**
 * Registers `drumline_runs_total{job,outcome}`. Workers count every outcome; the leading scheduler
 * counts the runs BullMQ's stalled check fails (their worker died mid-run too often), which no
 * worker sees end.
 */
export function createRunsCounter(registry: Registry): Counter<'job' | 'outcome'> {
  return new Counter({
    name: 'drumline_runs_total',
    help: RUNS_HELP,
    labelNames: ['job', 'outcome'],
    registers: [registry],
  });
}

/** What a scheduler records about leadership and ticks. */
export interface SchedulerMetrics {
  /** `drumline_scheduler_is_leader`: 1 while this process leads. */
  readonly isLeader: Gauge;
  /** `drumline_scheduler_leader_changes_total`: times this process took the lead; summed over replicas, the deployment's leader changes. */
  readonly leaderChanges: Counter;
  /** `drumline_ticks_missed_total{schedule}`: ticks the leader found too late to add. */
  readonly ticksMissed: Counter<'schedule'>;
  /** `drumline_schedule_overdue_total{schedule}`: dead-man's switch trips. */
  readonly overdue: Counter<'schedule'>;
  /** `drumline_schedules_stalled_total{schedule}`: schedules the time engine found no next tick for. */
  readonly stalled: Counter<'schedule'>;
}

/** Registers the scheduler's metrics on `registry`. */
export function createSchedulerMetrics(registry: Registry): SchedulerMetrics {
  return {
    isLeader: new Gauge({ name: 'drumline_scheduler_is_leader', help: '1 while this scheduler holds the leader lease, else 0', registers: [registry] }),
    leaderChanges: new Counter({
      name: 'drumline_scheduler_leader_changes_total',
      help: 'Times this scheduler took the lead; the sum over replicas counts the leader changes of the deployment',
      registers: [registry],
    }),
    ticksMissed: createTicksMissedCounter(registry),
    overdue: new Counter({
      name: 'drumline_schedule_overdue_total',
      help: "Dead-man's switch trips: a tick whose run had not started SCHEDULE_OVERDUE_MS after it",
      labelNames: ['schedule'],
      registers: [registry],
    }),
    stalled: new Counter({
      name: 'drumline_schedules_stalled_total',
      help: 'Times the time engine found no next tick for a schedule that should have one (a bug: the schedule would stop)',
      labelNames: ['schedule'],
      registers: [registry],
    }),
  };
}

/**
 * Registers `drumline_ticks_missed_total{schedule}`. Both kinds of process count into it: the
 * leader for ticks it finds too late to add (no scheduler ran), workers for ticks they find too
 * late to run (no worker ran); sum over the deployment for the whole picture.
 */
export function createTicksMissedCounter(registry: Registry): Counter<'schedule'> {
  return new Counter({
    name: 'drumline_ticks_missed_total',
    help: "Ticks dropped by a schedule's misfire policy (no scheduler or no worker ran in time)",
    labelNames: ['schedule'],
    registers: [registry],
  });
}

/** Counts `drumline_flow_waits_total{job,limit}`: each time a run was put in line by its job's concurrency or rate limit. */
export function createFlowWaitsCounter(registry: Registry): Counter<'job' | 'limit'> {
  return new Counter({
    name: 'drumline_flow_waits_total',
    help: "Runs put in line (delayed, not failed) because their key was at its job's limit: limit is concurrency or rate",
    labelNames: ['job', 'limit'],
    registers: [registry],
  });
}

/** Counts `drumline_alerts_total{kind,result}` for the alert webhook. */
export function createAlertMetrics(registry: Registry): Counter<'kind' | 'result'> {
  return new Counter({
    name: 'drumline_alerts_total',
    help: 'Alerts posted to ALERT_WEBHOOK_URL, by kind and result (sent, or failed after every retry)',
    labelNames: ['kind', 'result'],
    registers: [registry],
  });
}

/** Per-state job counts of one queue, as BullMQ's `queue.getJobCounts()` answers. */
export type QueueCounts = (queue: string) => Promise<Record<string, number>>;

/**
 * Registers `drumline_queue_jobs{queue,state}`, read from Redis at each scrape. One process per
 * deployment should serve it (the web does): the counts are the queues', not the process's.
 * While `reachable()` is false the series are left out, so a scrape during an outage answers at
 * once (with `drumline_redis_up` 0) instead of waiting for Redis.
 */
export function createQueueJobsGauge(registry: Registry, queues: readonly string[], counts: QueueCounts, reachable: () => boolean = () => true): Gauge<'queue' | 'state'> {
  return new Gauge({
    name: 'drumline_queue_jobs',
    help: 'Jobs in each queue by state (waiting includes prioritized), read from Redis at scrape time',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      if (!reachable()) return this.reset();
      const all = await Promise.all(queues.map(counts));
      this.reset();
      queues.forEach((queue, index) => {
        const byState = all[index] ?? {};
        for (const state of QUEUE_STATES) {
          const value = (byState[state] ?? 0) + (state === 'waiting' ? (byState.prioritized ?? 0) : 0);
          this.labels(queue, state).set(value);
        }
      });
    },
  });
}

/** How many jobs of one queue a worker could take now (see `createQueueBacklogGauge`). */
export type QueueBacklog = (queue: string) => Promise<number>;

/**
 * Registers `drumline_queue_backlog{queue}`: jobs a worker could start now, that is waiting plus
 * prioritized plus delayed ones whose time has come, read from Redis at each scrape (one process per
 * deployment: the web). It is what an autoscaler should follow: `drumline_queue_jobs{state="delayed"}`
 * also counts runs due later (the scheduler adds ticks ahead, retries wait their backoff), and a
 * delayed job only leaves its set when a worker asks for work, so with no free worker the due ones
 * stay there. Left out while `reachable()` is false, as `drumline_queue_jobs` is.
 */
export function createQueueBacklogGauge(registry: Registry, queues: readonly string[], backlog: QueueBacklog, reachable: () => boolean = () => true): Gauge<'queue'> {
  return new Gauge({
    name: 'drumline_queue_backlog',
    help: 'Jobs a worker could start now: waiting, prioritized and delayed ones that are due, read from Redis at scrape time',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      if (!reachable()) return this.reset();
      const all = await Promise.all(queues.map(backlog));
      this.reset();
      queues.forEach((queue, index) => this.labels(queue).set(all[index] ?? 0));
    },
  });
}

/**
 * Registers `drumline_schedule_overdue{schedule}`: 1 while the dead-man's switch flags the
 * schedule, 0 otherwise, read from Redis at each scrape (one process per deployment: the web);
 * left out while `reachable()` is false, as `drumline_queue_jobs` is.
 */
export function createOverdueGauge(registry: Registry, read: () => Promise<Map<string, boolean>>, reachable: () => boolean = () => true): Gauge<'schedule'> {
  return new Gauge({
    name: 'drumline_schedule_overdue',
    help: "1 while a schedule's expected run has not started SCHEDULE_OVERDUE_MS after its tick (dead-man's switch), else 0",
    labelNames: ['schedule'],
    registers: [registry],
    async collect() {
      if (!reachable()) return this.reset();
      const flags = await read();
      this.reset();
      for (const [schedule, overdue] of flags) this.labels(schedule).set(overdue ? 1 : 0);
    },
  });
}

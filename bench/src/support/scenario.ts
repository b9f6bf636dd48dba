import type { RedisServer } from './redis-server.js';

export const SCENARIO_NAMES = [
  'worker-throughput',
  'flow-throughput',
  'flow-fairness',
  'http-enqueue',
  'bulk-enqueue',
  'schedule-precision',
  'failover',
  'sentinel-failover',
  'schedule-scale',
  'schedule-listing',
  'idle-memory',
  'cluster-worker-throughput',
  'cluster-http-enqueue',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface BenchContext {
  redis: RedisServer;
  /** `--quick`: fewer jobs, shorter windows, fewer repeats; the same checks. */
  quick: boolean;
  /** Progress on stderr, so stdout keeps the final table. */
  log: (message: string) => void;
}

/** What a scenario measured. Figures are numbers in the unit their key names (`…Ms`, `…PerSec`, `…MiB`). */
export interface Measured {
  drumline: Record<string, unknown>;
  baseline: Record<string, unknown>;
  /** ≥ 1 means Drumline is at least as good as the baseline, whatever the figure's direction. */
  ratio: number | null;
  /** What `ratio` divides, in words. */
  ratioOf: string;
  pass: boolean;
  /** Why `pass` is false, when it is because a target was missed rather than because a run broke. */
  missed?: string;
  /** One line per side for the markdown table. */
  summary: { drumline: string; baseline: string };
  /** How it was measured, so a reader can judge the figure. */
  method: string;
}

export interface ScenarioResult extends Partial<Measured> {
  name: ScenarioName;
  drumline: Record<string, unknown>;
  baseline: Record<string, unknown>;
  ratio: number | null;
  target: string;
  pass: boolean;
  /** Set when the scenario broke (a process died, a count was wrong): no figure is reported then. */
  error?: string;
  durationS: number;
}

export interface Scenario {
  name: ScenarioName;
  target: string;
  run(context: BenchContext): Promise<Measured>;
}

/** A correctness check failed: the scenario reports it instead of a figure. */
export class BenchCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new BenchCheckError(message);
}

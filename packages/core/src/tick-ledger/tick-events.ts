/**
 * What Drumline decided about one tick of one schedule, as its tick ledger records it. `at` is when
 * (epoch ms, the deciding process's clock). The leader's events carry its term (the replica that
 * held it is in the leader history); the worker's carry the worker (`host:pid`) and the attempt.
 */
export type TickEvent =
  /** The leader added the tick's run; `late` when it caught up a tick missed while no scheduler led. */
  | { readonly kind: 'materialized'; readonly at: number; readonly term: number; readonly late: boolean }
  /** A backfill through the API added the tick's run, late by design. */
  | { readonly kind: 'backfilled'; readonly at: number }
  /** The leader found the tick missed (no scheduler led at it) and its misfire policy dropped it. */
  | { readonly kind: 'missed'; readonly at: number; readonly term: number }
  /** The leader took back the tick's run before it started: its schedule was changed, paused or deleted. */
  | { readonly kind: 'withdrawn'; readonly at: number; readonly term: number; readonly why: WithdrawReason }
  /** A worker started an attempt. */
  | { readonly kind: 'started'; readonly at: number; readonly attempt: number; readonly worker: string }
  /** An attempt ended; a failed one with `retry` is tried again. */
  | { readonly kind: 'completed'; readonly at: number; readonly attempt: number; readonly worker: string }
  | { readonly kind: 'failed'; readonly at: number; readonly attempt: number; readonly worker: string; readonly retry: boolean; readonly reason: string }
  /** The worker shut down mid-attempt and put the run back to start again. */
  | { readonly kind: 'requeued'; readonly at: number; readonly attempt: number; readonly worker: string }
  /** A worker did not run the tick: paused, another run held the overlap lock, or too late for its misfire policy. */
  | { readonly kind: 'skipped'; readonly at: number; readonly worker: string; readonly why: SkipReason }
  /** A second job for the tick (re-added after retention removed the first) was turned away. */
  | { readonly kind: 'duplicate'; readonly at: number; readonly worker: string };

export type WithdrawReason = 'changed' | 'paused' | 'deleted';
export type SkipReason = 'paused' | 'overlap' | 'missed';
export type TickEventKind = TickEvent['kind'];

/** One tick as the ledger holds it: its nominal time and what happened to it. */
export interface LedgerTick {
  readonly tick: number;
  readonly events: readonly TickEvent[];
}

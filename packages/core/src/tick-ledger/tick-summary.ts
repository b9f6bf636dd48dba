import type { LedgerTick, TickEvent } from './tick-events.js';

/**
 * How a tick ended, or that it has not: `ran` (an attempt completed), `failed` (its last attempt
 * failed with none left), `skipped:<reason>` (paused, overlap, changed, deleted: declined on
 * purpose), `missed` (no scheduler or no worker got to it in time for its misfire policy), or
 * `pending` (due, running, retrying, or not yet due).
 */
export type TickState = 'ran' | 'failed' | 'missed' | 'pending' | `skipped:${'paused' | 'overlap' | 'changed' | 'deleted'}`;

export interface TickSummary {
  readonly tick: number;
  readonly state: TickState;
  /** Attempts started. */
  readonly attempts: number;
  /** The first attempt's start minus when the run was due; null before it started. */
  readonly latenessMs: number | null;
  /** The last attempt's length, once it ended. */
  readonly durationMs: number | null;
  /** Why it failed (the last failure), or was skipped or withdrawn. */
  readonly reason: string | null;
}

function canonical(event: TickEvent): string {
  return JSON.stringify(Object.entries(event).sort(([a], [b]) => a.localeCompare(b)));
}

function latest<Kind extends TickEvent['kind']>(events: readonly TickEvent[], kind: Kind): Extract<TickEvent, { kind: Kind }> | undefined {
  let found: Extract<TickEvent, { kind: Kind }> | undefined;
  for (const event of events) {
    if (event.kind === kind && (!found || event.at >= found.at)) found = event as Extract<TickEvent, { kind: Kind }>;
  }
  return found;
}

/**
 * A tick's state from its events. Writers on different machines append them as they happen, in no
 * guaranteed order, so the state depends on which events there are (and, between the leader's own
 * events, on their times), never on the order they were stored in. A completed attempt outranks
 * everything: a tick that ran, ran. `dueAt` is when its run was due (later than the tick with jitter).
 */
export function summarizeTick({ tick, events: stored }: LedgerTick, dueAt: number = tick): TickSummary {
  // Events of the same millisecond are ranked by their content, so that even ties do not depend on the stored order.
  const events = [...stored].sort((a, b) => a.at - b.at || canonical(a).localeCompare(canonical(b)));
  const started = events.filter((event): event is Extract<TickEvent, { kind: 'started' }> => event.kind === 'started');
  const firstStart = started.reduce<number | null>((first, event) => (first === null || event.at < first ? event.at : first), null);
  const lastStart = started.reduce<Extract<TickEvent, { kind: 'started' }> | undefined>((last, event) => (!last || event.attempt > last.attempt || (event.attempt === last.attempt && event.at > last.at) ? event : last), undefined);
  const attempts = new Set(started.map((event) => event.attempt)).size;
  const completed = latest(events, 'completed');
  const failed = latest(events, 'failed');
  const finalFailure = events.find((event): event is Extract<TickEvent, { kind: 'failed' }> => event.kind === 'failed' && !event.retry);
  const ended = completed ?? finalFailure ?? (failed && lastStart && failed.attempt >= lastStart.attempt ? failed : undefined);
  const durationMs = ended && lastStart && ended.attempt === lastStart.attempt ? ended.at - lastStart.at : null;
  const base = { tick, attempts, latenessMs: firstStart === null ? null : firstStart - dueAt, durationMs };

  if (completed) return { ...base, state: 'ran', reason: null };
  if (finalFailure) return { ...base, state: 'failed', reason: finalFailure.reason };
  const skipped = latest(events, 'skipped');
  if (skipped) return { ...base, state: skipped.why === 'missed' ? 'missed' : `skipped:${skipped.why}`, reason: skipped.why };
  if (started.length > 0 || latest(events, 'requeued')) return { ...base, state: 'pending', reason: failed?.reason ?? null };
  const withdrawn = latest(events, 'withdrawn');
  const materialized = [latest(events, 'materialized'), latest(events, 'backfilled')].reduce<TickEvent | undefined>((later, event) => (event && (!later || event.at > later.at) ? event : later), undefined);
  if (withdrawn && (!materialized || withdrawn.at >= materialized.at)) return { ...base, state: `skipped:${withdrawn.why}`, reason: withdrawn.why };
  if (latest(events, 'missed') && !materialized) return { ...base, state: 'missed', reason: 'no scheduler led at its tick' };
  return { ...base, state: 'pending', reason: null };
}

import type { FlowLimit, RateLimit } from './flow-policy.js';

/** A head of a concurrency line looks again this often, besides being woken when a place frees. */
export const HEAD_RECHECK_MS = 1000;
/** The longest a run waits in line before it asks again. */
export const MAX_FLOW_WAIT_MS = 30_000;
/** A run in line that has not asked for this long (removed, cancelled) loses its place. */
export const FLOW_STALE_MS = 3 * MAX_FLOW_WAIT_MS;

/**
 * How long a run at `rank` in a limit's line waits before it asks again. Under a concurrency
 * limit the heads are woken by the run that frees a place, so they look again only as a safety
 * net, and the further back a run is the later; under a rate limit, the start that `rank` waits
 * for lapses at `lapse` (ms), and each `limit` runs ahead of it take one more window.
 */
export function flowWaitMs(limit: FlowLimit | RateLimit, rank: number, lapse: number, now: number): number {
  const rounds = Math.floor(rank / limit.limit);
  const wait = 'windowMs' in limit ? lapse + rounds * limit.windowMs - now : HEAD_RECHECK_MS * (1 + rounds);
  return Math.min(Math.max(wait, 1), MAX_FLOW_WAIT_MS);
}

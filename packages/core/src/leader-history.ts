import type { DrumlineKeys } from './keys.js';
import type { RedisConnection } from './redis.js';

/** One leadership term as the leader history keeps it. */
export interface LeaderTerm {
  readonly term: number;
  /** The scheduler that held it (`<hostname>:<pid>` unless configured). */
  readonly replica: string;
  readonly electedAt: number;
  /** When it last renewed its lease or handed it over: it may have died any time after. */
  readonly lastSeenAt: number;
}

/** A stretch of time when no scheduler led; `to` is undefined while none leads yet. */
export interface Leaderless {
  readonly from: number | undefined;
  readonly to: number | undefined;
  /** The term that ended at `from`, and the one elected at `to`. */
  readonly before: LeaderTerm | undefined;
  readonly after: LeaderTerm | undefined;
}

/** The recent terms (the last LEADER_TERMS_KEPT), oldest first. */
export async function readLeaderHistory(redis: RedisConnection, keys: DrumlineKeys): Promise<LeaderTerm[]> {
  const [records, seen] = await Promise.all([redis.hgetall(keys.leaderTerms), redis.hgetall(keys.leaderSeen)]);
  const terms: LeaderTerm[] = [];
  for (const [term, json] of Object.entries(records)) {
    try {
      const { replica, electedAt } = JSON.parse(json) as { replica: string; electedAt: number };
      terms.push({ term: Number(term), replica, electedAt, lastSeenAt: Math.max(electedAt, Number(seen[term] ?? electedAt)) });
    } catch {
      // A term record this version cannot read explains nothing; the others still do.
    }
  }
  return terms.sort((a, b) => a.term - b.term);
}

/**
 * Whether a scheduler led at `at`, by the history: a term covers the time from its election to its
 * leader's last sign of life. Outside every term, the stretch without a leader around `at`: from
 * the last sign of life before it to the next election after it.
 */
export function leaderlessAround(terms: readonly LeaderTerm[], at: number): Leaderless | undefined {
  if (terms.some((term) => term.electedAt <= at && at <= term.lastSeenAt)) return undefined;
  let before: LeaderTerm | undefined;
  let after: LeaderTerm | undefined;
  for (const term of terms) {
    if (term.lastSeenAt < at && (!before || term.lastSeenAt > before.lastSeenAt)) before = term;
    if (term.electedAt > at && (!after || term.electedAt < after.electedAt)) after = term;
  }
  return { from: before?.lastSeenAt, to: after?.electedAt, before, after };
}

/**
 * How keys are laid out. `single` is one Redis, reached directly or through Sentinel: the layout
 * Drumline always had, kept so that an existing deployment finds its queues and schedules. `cluster`
 * is Redis Cluster, where every key a script or a transaction touches must hash to one slot: the
 * part of a key in braces is all Redis hashes, so each queue's keys carry `{<queue>}` (its jobs,
 * lists and events share a slot, and different queues spread over the shards) and Drumline's own
 * keys carry `{drumline}` (schedules, cursors, the lease, claims and locks share another).
 */
export type KeyLayout = 'single' | 'cluster';

/** The layout keys must have on `redis`: a Cluster connection needs `cluster`, any other `single`. */
export function keyLayoutOf(redis: { readonly isCluster: boolean }): KeyLayout {
  return redis.isCluster ? 'cluster' : 'single';
}

/**
 * BullMQ's `prefix` option for `queue`: BullMQ names its keys `<prefix>:<queue>:<what>`, so on a
 * cluster the queue's hash tag goes into the prefix (`<prefix>:{<queue>}:<queue>:wait`), as BullMQ's
 * guide to Redis Cluster advises, and the queue keeps its name everywhere else.
 */
export function queuePrefix(prefix: string, queue: string, layout: KeyLayout): string {
  return layout === 'cluster' ? `${prefix}:{${queue}}` : prefix;
}

/**
 * Every Redis key Drumline owns (BullMQ owns those under `queuePrefix`). One place builds them so
 * the prefix is applied everywhere and a test or a second deployment on the same Redis stays apart.
 */
export function drumlineKeys(prefix: string, layout: KeyLayout = 'single') {
  const base = layout === 'cluster' ? `${prefix}:{drumline}` : `${prefix}:drumline`;
  return {
    /** String: the current leader's token, with the lease TTL. */
    leader: `${base}:leader`,
    /** Counter: bumped at each election, so logs can tell leadership terms apart. */
    leaderTerm: `${base}:leader-term`,
    /** Hash: term → `{ replica, electedAt }` JSON of the recent terms, written when elected (see leader-history.ts). */
    leaderTerms: `${base}:leader-terms`,
    /** Hash: term → when its leader last renewed or handed over its lease (epoch ms). */
    leaderSeen: `${base}:leader-seen`,
    /** Sorted set: a schedule's recent ticks and what was decided about each (see tick-ledger/). */
    tickLedger: (scheduleId: string) => `${base}:ticks:${scheduleId}`,
    /** Hash: schedule id → ScheduleRecord JSON. */
    schedules: `${base}:schedules`,
    /**
     * Set: every id code has owned a schedule under (a superset: reconcile adds the ids it declares
     * and drops those it prunes), and '' once it is complete, so reconcile reads those records only.
     */
    schedulesCode: `${base}:schedules-code`,
    /** Set: ids of paused schedules (kept apart from the records, so code reconciliation keeps them). */
    schedulesPaused: `${base}:schedules-paused`,
    /** Set: ids of schedules changed by the API since the leader last applied them. */
    schedulesChanged: `${base}:schedules-changed`,
    /** Set: ids of schedules changed by the API (written, deleted, paused, resumed) since the leader's dead-man's switch last looked. */
    schedulesChangedForWatch: `${base}:schedules-changed-watch`,
    /**
     * Sorted set: schedule id → its next tick (epoch ms), as the leader last filed it. A new leader
     * reads the ids due up to its horizon first and materializes them before loading the rest.
     */
    scheduleDue: `${base}:schedule-due`,
    /** Sorted set: schedule id → its cursor's `upTo`, while runs are added ahead of now (a new leader promotes them). */
    scheduleAhead: `${base}:schedule-ahead`,
    /** Hash: schedule id → Cursor JSON (ticks materialized up to, and the spec they were made for). */
    cursors: `${base}:cursors`,
    /** Hash: schedule id → LastRun JSON, written by workers. */
    lastRuns: `${base}:last-runs`,
    /** String with TTL: the creation time of the one job allowed to run this tick. */
    tickClaim: (runId: string) => `${base}:tick:${runId}`,
    /** String with TTL: the run holding a schedule's overlap lock. */
    overlapLock: (scheduleId: string) => `${base}:overlap:${scheduleId}`,
    /** Hash: schedule id → Overdue JSON, while the dead-man's switch flags it; written by the leader. */
    overdue: `${base}:overdue`,
    /** Hash: schedule id → OverdueBaseline JSON: ticks before `from` are never overdue (created, resumed or changed then). */
    overdueBaseline: `${base}:overdue-baseline`,
    /** String with TTL: set once an alert about `subject` was sent, so a failover does not send it twice. */
    alertSent: (subject: string) => `${base}:alert-sent:${subject}`,
    /** Hash: release → when all its init tasks completed (epoch ms). */
    initDone: `${base}:init-done`,
    /** Pub/sub channel: `{ queue, runId, reason }` JSON, a request to abort an active run, for whichever worker holds it. */
    runCancels: `${base}:run-cancels`,
    /** String with TTL: this scheduled run was added by a backfill, so lateness is its nature, not a misfire. */
    backfilled: (runId: string) => `${base}:backfilled:${runId}`,
    /**
     * A flow limit's state for one job and key, in one Redis Cluster slot (the `{...}` part; the key
     * is URI-encoded so that its own braces cannot move it): `slots`, a sorted set of what holds the
     * limit (a running run for concurrency, a start for a rate limit) by when it lapses; `line`, the
     * runs waiting for it by arrival; `seen`, when each of those last asked; `seq`, a counter that
     * orders the runs enqueued in the same millisecond.
     */
    flow: (job: string, control: 'concurrency' | 'rate', key: string) => {
      // In both layouts: Redis hashes the first `{...}` of a key, which here must be the limit's own.
      const tag = `${prefix}:drumline:flow:{${job}:${control}:${encodeURIComponent(key)}}`;
      return { slots: `${tag}:slots`, line: `${tag}:line`, seen: `${tag}:seen`, seq: `${tag}:seq` };
    },
  } as const;
}

export type DrumlineKeys = ReturnType<typeof drumlineKeys>;

import type { Queue } from 'bullmq';
import { z } from 'zod';
import { InvalidCursorError } from './errors/invalid-cursor-error.js';
import { parseScheduledRunId, type RedisConnection } from '@drumline/core/runtime';

/** The states a run can be listed by, in the order `GET /api/jobs/:name/runs` walks them. */
export const RUN_STATES = ['active', 'waiting', 'prioritized', 'delayed', 'completed', 'failed'] as const;
export type RunState = (typeof RUN_STATES)[number];

/**
 * Without a state filter the listing walks these groups in order. Finished runs are one group,
 * completed and failed merged by finish time, because "what happened lately" is what a history is for.
 */
const GROUPS: readonly (readonly RunState[])[] = [['active'], ['waiting'], ['prioritized'], ['delayed'], ['completed', 'failed']];

/** Ids read from Redis per state and round trip. */
const WINDOW = 100;
/** Ids one request looks at, whatever job they belong to: this bounds a page's cost when jobs share a queue. */
export const SCAN_BUDGET = 1000;

/** BullMQ's key suffix and structure for each state: lists have the newest at the head; zsets are read highest score first. */
const STORAGE: Record<RunState, { key: 'active' | 'wait' | 'prioritized' | 'delayed' | 'completed' | 'failed'; list: boolean }> = {
  active: { key: 'active', list: true },
  waiting: { key: 'wait', list: true },
  prioritized: { key: 'prioritized', list: false },
  delayed: { key: 'delayed', list: false },
  completed: { key: 'completed', list: false },
  failed: { key: 'failed', list: false },
};

const cursorSchema = z.object({
  /** The group being walked, named by its states joined with '+'. */
  g: z.string(),
  /** How many ids of each state of that group have been looked at already. */
  o: z.partialRecord(z.enum(RUN_STATES), z.int().min(0)),
  /** The schedule the listing is filtered by, if any. */
  s: z.string().optional(),
});
type Cursor = z.infer<typeof cursorSchema>;

function groupName(group: readonly RunState[]): string {
  return group.join('+');
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(text: string, groups: readonly (readonly RunState[])[], scheduleId: string | undefined): { group: number; offsets: Partial<Record<RunState, number>> } {
  let parsed: Cursor;
  try {
    parsed = cursorSchema.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
  } catch {
    throw new InvalidCursorError('is not a cursor this endpoint gave out; pass `nextCursor` from the previous page as it is');
  }
  const group = groups.findIndex((candidate) => groupName(candidate) === parsed.g);
  if (group === -1) throw new InvalidCursorError('belongs to a listing with another `state`; keep the same `state` while paging');
  if (parsed.s !== scheduleId) throw new InvalidCursorError('belongs to a listing with another `schedule`; keep the same `schedule` while paging');
  return { group, offsets: parsed.o };
}

interface Window {
  state: RunState;
  ids: string[];
  /** Zset scores (finish time for completed and failed), used to merge the states of a group. */
  scores: number[];
  /** It came back as long as asked for, so more ids may follow it. */
  full: boolean;
  position: number;
}

/** Where the runs of `state` are now: a paused queue (Bull Board can pause one) keeps its waiting runs in `paused`. */
async function keyOf(redis: RedisConnection, queue: Queue, state: RunState): Promise<string> {
  if (state === 'waiting' && (await redis.hexists(queue.toKey('meta'), 'paused')) === 1) return queue.toKey('paused');
  return queue.toKey(STORAGE[state].key);
}

async function readWindow(redis: RedisConnection, queue: Queue, state: RunState, offset: number, count: number): Promise<Window> {
  const { list } = STORAGE[state];
  const key = await keyOf(redis, queue, state);
  const stop = offset + count - 1;
  let ids: string[];
  let scores: number[] = [];
  if (list) {
    ids = await redis.lrange(key, offset, stop);
  } else {
    const flat = await redis.zrevrange(key, offset, stop, 'WITHSCORES');
    ids = flat.filter((_, index) => index % 2 === 0);
    scores = flat.filter((_, index) => index % 2 === 1).map(Number);
  }
  return { state, ids, scores, full: ids.length === count, position: 0 };
}

/** The job name of each id (null when the run was removed meanwhile), in one round trip. */
async function namesOf(redis: RedisConnection, queue: Queue, ids: string[]): Promise<(string | null)[]> {
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hget(queue.toKey(id), 'name');
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, name]) => (error ? null : (name as string | null)));
}

export interface RunRef {
  id: string;
  /** The state it was listed under. */
  state: RunState;
}

export interface RunPage {
  runs: RunRef[];
  /** Null once every run has been looked at. */
  nextCursor: string | null;
}

export interface ListRunsOptions {
  jobName: string;
  state: RunState | undefined;
  limit: number;
  cursor: string | undefined;
  /** Only the runs this schedule made (its ticks, manual triggers and backfills). */
  scheduleId?: string | undefined;
}

/**
 * One page of a job's runs, newest first, from a queue other jobs may share. It reads the queue's
 * own indexes (BullMQ's lists and sorted sets) in windows and keeps the ids whose job name
 * matches, looking at no more than SCAN_BUDGET ids per call: a page can therefore hold fewer than
 * `limit` runs, even none, and still have a `nextCursor`. The cursor is the offset reached in each
 * state, so runs that move while a client pages may be listed twice or skipped.
 * @throws InvalidCursorError
 */
export async function listRuns(redis: RedisConnection, queue: Queue, options: ListRunsOptions): Promise<RunPage> {
  const groups = options.state ? [[options.state]] : GROUPS;
  const { scheduleId } = options;
  // Filtering on the id first spares the name lookup of every run another schedule made.
  const ofSchedule = (id: string) => scheduleId === undefined || parseScheduledRunId(id)?.scheduleId === scheduleId;
  let { group, offsets } = options.cursor ? decodeCursor(options.cursor, groups, scheduleId) : { group: 0, offsets: {} as Partial<Record<RunState, number>> };
  const runs: RunRef[] = [];
  let looked = 0;

  fill: while (group < groups.length && runs.length < options.limit && looked < SCAN_BUDGET) {
    const states = groups[group] as readonly RunState[];
    const count = Math.min(WINDOW, SCAN_BUDGET - looked);
    const windows = await Promise.all(states.map((state) => readWindow(redis, queue, state, offsets[state] ?? 0, count)));
    const candidates = windows.flatMap((window) => window.ids).filter(ofSchedule);
    const names = new Map<string, string | null>((await namesOf(redis, queue, candidates)).map((name, index) => [candidates[index] as string, name]));

    for (;;) {
      // A drained window that was full may hide ids that sort before the other windows' next ones: read again.
      if (windows.some((window) => window.full && window.position === window.ids.length)) continue fill;
      const pending = windows.filter((window) => window.position < window.ids.length);
      if (pending.length === 0) break;
      const next = pending.reduce((best, window) => ((window.scores[window.position] ?? 0) > (best.scores[best.position] ?? 0) ? window : best));
      const id = next.ids[next.position] as string;
      next.position += 1;
      offsets[next.state] = (offsets[next.state] ?? 0) + 1;
      looked += 1;
      if (names.get(id) === options.jobName) runs.push({ id, state: next.state });
      if (runs.length === options.limit || looked === SCAN_BUDGET) break fill;
    }
    group += 1;
    offsets = {};
  }

  const current = groups[group];
  return { runs, nextCursor: current ? encodeCursor({ g: groupName(current), o: offsets, ...(scheduleId !== undefined ? { s: scheduleId } : {}) }) : null };
}

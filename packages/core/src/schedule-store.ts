import { DrumlineError } from './errors/index.js';
import { drumlineKeys, keyLayoutOf, type DrumlineKeys } from './keys.js';
import type { ScheduleRecord } from './schedule-record.js';
import type { RedisConnection } from './redis.js';
import { luaScript } from './scripts.js';
import type { NormalizedTiming } from './schedule-spec.js';

/** A change through the API would replace or delete a schedule that code owns. */
export class CodeOwnedScheduleError extends DrumlineError {
  readonly code = 'DRUMLINE_CODE_OWNED_SCHEDULE';

  constructor(readonly scheduleId: string) {
    super(`schedule \`${scheduleId}\` is declared in code (packages/jobs); change it there, or pause it through the API`);
  }
}

/** A schedule with that id does not exist. */
export class UnknownScheduleError extends DrumlineError {
  readonly code = 'DRUMLINE_UNKNOWN_SCHEDULE';

  constructor(readonly scheduleId: string) {
    super(`no schedule with id \`${scheduleId}\``);
  }
}

/** How far the leader has turned a schedule into jobs, and for which spec (to undo on change). */
export interface Cursor {
  /** Every tick up to and including this time has been materialized or deliberately skipped. */
  upTo: number;
  job: string;
  fingerprint: string;
  timing: NormalizedTiming;
  paused: boolean;
  /**
   * The first tick after `upTo` by `timing`, as the leader that wrote the cursor found it: a new
   * leader files the schedule in its index of next ticks without computing it again.
   */
  next?: number;
}

/** The latest run of a schedule, as workers report it. */
export interface LastRun {
  runId: string;
  scheduledFor: number;
  /** When the run's first attempt started (a retry keeps it): its lateness is this minus `scheduledFor`. */
  startedAt: number;
  finishedAt: number | null;
  state: 'active' | 'completed' | 'failed' | 'skipped';
  reason?: string;
  /** The attempt this report is about, from 1; absent from skipped runs and from reports of older workers. */
  attempt?: number;
}

/** The dead-man's switch flag of a schedule: its run of `tick` had not started by `since`. */
export interface Overdue {
  tick: number;
  since: number;
}

export type ApiWriteOutcome = 'created' | 'replaced' | 'deleted';

/** The member of the code-owned index that says it holds every code-owned id (no schedule id is empty). */
const CODE_INDEX_COMPLETE = '';

/**
 * Schedule state in Redis, shared by the web (writes what users ask), the leader (applies it)
 * and workers (read policies, report runs). Writes from the API flag the schedule as changed so
 * the leader re-reads only what moved.
 */
export class ScheduleStore {
  readonly keys: DrumlineKeys;
  private readonly putApiSchedule;

  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
  ) {
    this.keys = drumlineKeys(prefix, keyLayoutOf(redis));
    this.putApiSchedule = luaScript(redis, 'put-api-schedule');
  }

  async all(): Promise<ScheduleRecord[]> {
    const raw = await this.redis.hgetall(this.keys.schedules);
    return Object.values(raw).map((json) => JSON.parse(json) as ScheduleRecord);
  }

  /**
   * Every code-owned schedule: the records of the ids in the code-owned index, so that reconciling
   * at each election does not read 100,000 API schedules. Before the index is complete (a
   * deployment from before it), every record is read, and only those whose JSON names code as
   * owner are parsed.
   */
  async codeOwned(): Promise<ScheduleRecord[]> {
    const indexed = await this.redis.smembers(this.keys.schedulesCode);
    const raw = indexed.includes(CODE_INDEX_COMPLETE)
      ? await this.rawRecords(indexed.filter((id) => id !== CODE_INDEX_COMPLETE))
      : Object.values(await this.redis.hgetall(this.keys.schedules));
    const owned: ScheduleRecord[] = [];
    for (const json of raw) {
      if (json === null || !json.includes('"owner":"code"')) continue;
      const record = JSON.parse(json) as ScheduleRecord;
      if (record.owner === 'code') owned.push(record);
    }
    return owned;
  }

  /**
   * Keeps the code-owned index a superset of the code-owned schedules: call with what reconcile
   * declared and found owned (added), and with what it pruned once the prune was written (removed).
   */
  async indexCodeOwned(owned: string[], pruned: string[]): Promise<void> {
    const transaction = this.redis.multi();
    for (let start = 0; start < owned.length; start += 1000) transaction.sadd(this.keys.schedulesCode, ...owned.slice(start, start + 1000));
    for (let start = 0; start < pruned.length; start += 1000) transaction.srem(this.keys.schedulesCode, ...pruned.slice(start, start + 1000));
    await transaction.sadd(this.keys.schedulesCode, CODE_INDEX_COMPLETE).exec();
  }

  /** Every schedule id, sorted, for paging. */
  async ids(): Promise<string[]> {
    return (await this.redis.hkeys(this.keys.schedules)).sort();
  }

  /** The stored JSON of each id (null when it is gone), unparsed: the API reads each one on its own, so a bad one spoils only itself. */
  async rawRecords(ids: string[]): Promise<(string | null)[]> {
    return ids.length === 0 ? [] : this.redis.hmget(this.keys.schedules, ...ids);
  }

  /** Which of `ids` are paused. */
  async pausedAmong(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const flags = await this.redis.smismember(this.keys.schedulesPaused, ...ids);
    return new Set(ids.filter((_, index) => flags[index] === 1));
  }

  async get(id: string): Promise<ScheduleRecord | undefined> {
    const json = await this.redis.hget(this.keys.schedules, id);
    return json ? (JSON.parse(json) as ScheduleRecord) : undefined;
  }

  async pausedIds(): Promise<Set<string>> {
    return new Set(await this.redis.smembers(this.keys.schedulesPaused));
  }

  async isPaused(id: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.schedulesPaused, id)) === 1;
  }

  /** Creates or replaces an api-owned schedule. @throws CodeOwnedScheduleError */
  async putFromApi(record: ScheduleRecord): Promise<ApiWriteOutcome> {
    const outcome = (await this.putApiSchedule([this.keys.schedules, this.keys.schedulesChanged, this.keys.schedulesChangedForWatch], [record.id, JSON.stringify(record)])) as string;
    if (outcome === 'code') throw new CodeOwnedScheduleError(record.id);
    return outcome as ApiWriteOutcome;
  }

  /** Deletes an api-owned schedule; the leader then removes its pending runs. */
  async deleteFromApi(id: string): Promise<void> {
    const outcome = (await this.putApiSchedule([this.keys.schedules, this.keys.schedulesChanged, this.keys.schedulesChangedForWatch], [id, ''])) as string;
    if (outcome === 'code') throw new CodeOwnedScheduleError(id);
    if (outcome === 'missing') throw new UnknownScheduleError(id);
    await this.redis.multi().srem(this.keys.schedulesPaused, id).hdel(this.keys.lastRuns, id).exec();
  }

  /** Pauses or resumes any schedule, code-owned ones too; survives restarts and reconciliation. */
  async setPaused(id: string, paused: boolean): Promise<void> {
    if (!(await this.redis.hexists(this.keys.schedules, id))) throw new UnknownScheduleError(id);
    const transaction = this.redis.multi();
    if (paused) transaction.sadd(this.keys.schedulesPaused, id);
    else transaction.srem(this.keys.schedulesPaused, id);
    await transaction.sadd(this.keys.schedulesChanged, id).sadd(this.keys.schedulesChangedForWatch, id).exec();
  }

  /** Takes the ids changed since the last call (at most `count`). */
  async takeChanged(count = 1000): Promise<string[]> {
    return (await this.redis.spop(this.keys.schedulesChanged, count)) ?? [];
  }

  /** Takes the ids changed since the dead-man's switch last looked (at most `count`). */
  async takeChangedForWatch(count = 50_000): Promise<string[]> {
    return (await this.redis.spop(this.keys.schedulesChangedForWatch, count)) ?? [];
  }

  /**
   * The ids whose next tick, as last filed, is at or before `until`, or whose runs are added ahead
   * of `now`; and whether anything is filed at all.
   */
  async dueBy(now: number, until: number): Promise<{ ids: string[]; filed: number }> {
    const [due, ahead, filed] = await Promise.all([
      this.redis.zrangebyscore(this.keys.scheduleDue, '-inf', until),
      this.redis.zrangebyscore(this.keys.scheduleAhead, `(${now}`, '+inf'),
      this.redis.zcard(this.keys.scheduleDue),
    ]);
    return { ids: [...new Set([...due, ...ahead])], filed };
  }

  /**
   * Files each schedule's next tick and how far its runs are added (`upTo`, kept while after `now`),
   * and drops `removes` (paused, deleted, out of ticks).
   */
  async fileDue(sets: [id: string, next: number, upTo: number][], removes: string[], now: number): Promise<void> {
    const transaction = this.redis.multi();
    for (let start = 0; start < sets.length; start += 1000) {
      const part = sets.slice(start, start + 1000);
      transaction.zadd(this.keys.scheduleDue, ...part.flatMap(([id, next]) => [next, id]));
      transaction.zadd(this.keys.scheduleAhead, ...part.flatMap(([id, , upTo]) => [upTo, id]));
    }
    for (let start = 0; start < removes.length; start += 1000) {
      transaction.zrem(this.keys.scheduleDue, ...removes.slice(start, start + 1000));
      transaction.zrem(this.keys.scheduleAhead, ...removes.slice(start, start + 1000));
    }
    await transaction.zremrangebyscore(this.keys.scheduleAhead, '-inf', now).exec();
  }

  /** The cursors of those of `ids` the leader has materialized. */
  async cursorsOf(ids: string[]): Promise<Map<string, Cursor>> {
    return this.jsonEntries<Cursor>(this.keys.cursors, ids);
  }

  async cursors(): Promise<Map<string, Cursor>> {
    const raw = await this.redis.hgetall(this.keys.cursors);
    return new Map(Object.entries(raw).map(([id, json]) => [id, JSON.parse(json) as Cursor]));
  }

  async lastRuns(ids?: string[]): Promise<Map<string, LastRun>> {
    return this.jsonEntries<LastRun>(this.keys.lastRuns, ids);
  }

  /** Schedules the dead-man's switch flags now (see the scheduler's overdue watcher); only among `ids` when given. */
  async overdue(ids?: string[]): Promise<Map<string, Overdue>> {
    return this.jsonEntries<Overdue>(this.keys.overdue, ids);
  }

  /** A hash of schedule id → JSON, parsed: every entry, or only those of `ids` that exist. */
  private async jsonEntries<T>(key: string, ids?: string[]): Promise<Map<string, T>> {
    if (ids && ids.length === 0) return new Map();
    const entries: [string, string | null][] = ids
      ? (await this.redis.hmget(key, ...ids)).map((json, index) => [ids[index] as string, json])
      : Object.entries(await this.redis.hgetall(key));
    return new Map(entries.filter((entry): entry is [string, string] => entry[1] !== null).map(([id, json]) => [id, JSON.parse(json) as T]));
  }

  async recordRun(scheduleId: string, run: LastRun): Promise<void> {
    await this.redis.hset(this.keys.lastRuns, scheduleId, JSON.stringify(run));
  }
}

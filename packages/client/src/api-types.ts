// The shapes the Drumline HTTP API answers with (its OpenAPI document at /docs has them too).

/** Where a run is: the first four are unfinished, `completed` and `failed` are final. */
export type RunState = 'active' | 'waiting' | 'prioritized' | 'delayed' | 'completed' | 'failed';

/** The states a run ends in; `waitForRun` resolves as soon as the run is in one. */
export const FINISHED_STATES: readonly RunState[] = ['completed', 'failed'];

/** Optional settings of one enqueued run. */
export interface EnqueueOptions {
  /** Idempotency key: the same id again enqueues nothing and answers with the existing run (and lets the client retry the call). */
  jobId?: string;
  /** Start no sooner than this many ms from now. */
  delay?: number;
  /** 1 is the highest; unset runs before any prioritized run, in FIFO order. */
  priority?: number;
}

export interface EnqueuedRun<Name extends string = string> {
  id: string;
  name: Name;
  queue: string;
  /** True (status 200) when nothing was enqueued: `opts.jobId`, or a `dedupe` job's key within its window, named the run `id`. */
  duplicate: boolean;
  /** For a job with `debounce`: `id` carries this data; `after` is the key's run that was already active, which it runs after. */
  debounce?: { after: string | null };
}

export interface EnqueuedRuns<Name extends string = string> {
  ids: string[];
  name: Name;
  queue: string;
  /** The ids of `ids` that already existed (a repeated `jobId`, or a `dedupe` key within its window): nothing was added for them. */
  duplicates: string[];
}

/** A run as `GET /api/jobs/:name/runs` lists it. */
export interface RunSummary<Data = unknown, Name extends string = string> {
  id: string;
  name: Name;
  queue: string;
  /** A RunState; BullMQ may report others (`waiting-children`, `unknown`) in rare cases. */
  state: RunState | (string & {});
  /** The payload as it was sent. */
  data: Data;
  attemptsMade: number;
  failedReason: string | null;
  createdAt: string | null;
  /** When its latest attempt started. */
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  scheduleId: string | null;
  scheduledFor: string | null;
  /** Triggered by hand ("run now") rather than by a tick. */
  manual: boolean;
}

/** One run with its outcome, as `GET /api/jobs/:name/runs/:id` answers it. */
export interface Run<Data = unknown, Name extends string = string> extends RunSummary<Data, Name> {
  /** What the handler returned, as JSON; null until it completes. */
  returnValue: unknown;
  progress: unknown;
  logs: string[];
}

export interface RunPage<Data = unknown, Name extends string = string> {
  runs: RunSummary<Data, Name>[];
  /** Pass as `cursor` for the next page; null on the last. A page may hold fewer runs than `limit`, even none, and still have one. */
  nextCursor: string | null;
}

export interface ListRunsOptions {
  state?: RunState;
  /** 1-100, default 20. */
  limit?: number;
  cursor?: string;
  /** Only the runs of this schedule: its ticks, manual triggers and backfills. */
  schedule?: string;
}

export interface CancelledRun {
  id: string;
  /** `cancelled`: it had not started and is removed; `cancelling`: it is running and its worker was told to abort (it ends failed). */
  state: 'cancelled' | 'cancelling';
}

export interface RetriedRun {
  id: string;
  state: 'waiting';
}

/** A job the deployment defines, as `GET /api/jobs` lists it. */
export interface JobSummary {
  name: string;
  queue: string;
  attempts: number;
  backoff: { type: 'fixed' | 'exponential'; delayMs: number };
  timeoutMs: number;
  /** JSON Schema of the payload. */
  payloadSchema: Record<string, unknown>;
  schedules: {
    id: string;
    cron?: string;
    tz?: string;
    every?: number;
    at?: string;
    data: unknown;
    policies: { misfire?: 'skip' | 'once' | 'all'; misfireCap?: number; misfireGraceMs?: number; overlap?: 'allow' | 'skip' | 'queue'; jitterMs?: number };
  }[];
  /** Flow control as declared: per key when `keyed`, else for the whole job. */
  flow: {
    concurrency?: { limit: number; keyed: boolean };
    rateLimit?: { max: number; perMs: number; keyed: boolean };
    dedupe?: { ttlMs: number };
    debounce?: { waitMs: number };
  };
}

export interface LastRun {
  runId: string;
  scheduledFor: string;
  startedAt: string;
  finishedAt: string | null;
  state: 'active' | 'completed' | 'failed' | 'skipped';
  reason?: string;
  /** Start of its first attempt minus the tick. */
  latenessMs: number;
  /** Attempts so far, this one included. */
  attempts: number;
}

/** A schedule as the API shows it. */
export interface Schedule {
  id: string;
  job: string;
  /** One of them: a cron (read in `tz`), an interval in ms, or one ISO instant. */
  spec: { cron?: string; every?: number; at?: string };
  tz: string | null;
  data: unknown;
  misfire: 'skip' | 'once' | 'all';
  misfireCap: number;
  misfireGraceMs: number | null;
  overlap: 'allow' | 'skip' | 'queue';
  /** Each tick's run is due a fixed offset in [0, jitterMs) after the tick; 0: at the tick. */
  jitterMs: number;
  /** `code` schedules follow the deployed job definitions; `api` ones were made with PUT. */
  owner: 'code' | 'api';
  paused: boolean;
  /** The next 5 ticks, ISO; empty while paused. */
  nextRuns: string[];
  lastRun: LastRun | null;
  /** The dead-man's switch flag; null when on time or paused. */
  overdue: { tick: string; since: string } | null;
}

/** A stored schedule the API cannot show; fix it with PUT or DELETE it. */
export interface BrokenSchedule {
  id: string;
  broken: string;
}

export interface SchedulePage {
  schedules: (Schedule | BrokenSchedule)[];
  nextCursor: string | null;
}

export interface ListSchedulesOptions {
  /** 1-500, default 100. */
  limit?: number;
  cursor?: string;
}

export interface Backfill {
  /** Ticks of the schedule in the range. */
  ticks: number;
  enqueued: number;
  /** Ticks whose run already exists or already ran. */
  skipped: number;
}

/** What became of a tick: `pending` until it ran, failed for good, was skipped or missed. */
export type TickState = 'ran' | 'failed' | 'missed' | 'pending' | 'skipped:paused' | 'skipped:overlap' | 'skipped:changed' | 'skipped:deleted';

/** One tick of a schedule, from its tick ledger. */
export interface Tick {
  /** The nominal tick, ISO 8601. */
  tick: string;
  state: TickState;
  /** Its run, for `getRun`; null when no run was made for it. */
  runId: string | null;
  attempts: number;
  /** The first attempt started this long after the run was due. */
  latenessMs: number | null;
  /** The last attempt's length, once it ended. */
  durationMs: number | null;
  reason: string | null;
}

export interface TickPage {
  ticks: Tick[];
  /** Each state over the whole range asked for. */
  counts: { ran: number; failed: number; skipped: number; missed: number; pending: number };
  nextCursor: string | null;
}

export interface ListTicksOptions {
  from?: Date | string;
  to?: Date | string;
  /** 1-1000, default 100. */
  limit?: number;
  cursor?: string;
}

/** One tick's story: who added it, which worker ran it, how it ended, or why it never ran. */
export interface TickStory extends Tick {
  summary: string;
  events: { at: string; actor: string; kind: string; text: string }[];
}

/** A run the API started from a schedule ("run now"). */
export interface TriggeredRun {
  id: string;
  name: string;
  queue: string;
}

export function isBroken(schedule: Schedule | BrokenSchedule): schedule is BrokenSchedule {
  return 'broken' in schedule;
}

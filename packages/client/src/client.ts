import type { JobDataOf, JobDefinition, JobNameOf } from '@drumline/core';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  FINISHED_STATES,
  type Backfill,
  type BrokenSchedule,
  type CancelledRun,
  type EnqueuedRun,
  type EnqueuedRuns,
  type EnqueueOptions,
  type JobSummary,
  type ListRunsOptions,
  type ListTicksOptions,
  type ListSchedulesOptions,
  type RetriedRun,
  type Run,
  type RunPage,
  type RunState,
  type Schedule,
  type SchedulePage,
  type TickPage,
  type TickStory,
  type TriggeredRun,
} from './api-types.js';
import { HttpTransport, type TransportOptions } from './http-transport.js';

export type ClientOptions = TransportOptions;

/**
 * The payload of job `N`: its schema's input. A client without a jobs list (names are any string)
 * takes any payload, which the API checks.
 */
export type PayloadOf<Jobs extends readonly JobDefinition[], N extends JobNameOf<Jobs>> = string extends JobNameOf<Jobs> ? unknown : JobDataOf<Jobs, N>;

/** The longest a single `?wait=` long poll may last, as the API caps it. */
export const MAX_WAIT_PER_REQUEST_MS = 60_000;
/** How long `waitForRun` waits in all unless told otherwise. */
export const DEFAULT_WAIT_MS = 60_000;
/** A server that answers a long poll at once (one without `?wait=`) is asked again no sooner than this. */
const EARLY_ANSWER_PAUSE_MS = 1_000;

export interface WaitOptions {
  /** How long to wait in all (default 60 s); longer waits are made of several long polls. */
  timeoutMs?: number;
}

export interface BackfillRange {
  from: Date | string;
  to: Date | string;
}

/** One item of a bulk enqueue. */
export interface BulkItem<Data> {
  data: Data;
  opts?: EnqueueOptions;
}

/** Schedules at runtime: code-owned ones too can be paused, resumed, triggered and backfilled. */
export interface SchedulesClient {
  /** One page, in id order. */
  list(options?: ListSchedulesOptions): Promise<SchedulePage>;
  /** Every schedule, page after page. */
  all(options?: { pageSize?: number }): AsyncIterable<Schedule | BrokenSchedule>;
  /** @throws NotFoundError */
  get(id: string): Promise<Schedule>;
  /** @throws NotFoundError */
  pause(id: string): Promise<Schedule>;
  /** @throws NotFoundError */
  resume(id: string): Promise<Schedule>;
  /** Enqueues one run now with the schedule's data, beside its ticks. @throws NotFoundError */
  trigger(id: string): Promise<TriggeredRun>;
  /** Runs each tick of the range once (a tick that already ran is skipped). @throws NotFoundError, InvalidRequestError above 1000 ticks */
  backfill(id: string, range: BackfillRange): Promise<Backfill>;
  /** A page of the schedule's recent ticks, newest first, with what became of each. @throws NotFoundError */
  ticks(id: string, options?: ListTicksOptions): Promise<TickPage>;
  /** One tick's story. @throws NotFoundError for a time that is not one of its ticks */
  tick(id: string, tick: Date | string | number): Promise<TickStory>;
}

/**
 * A typed client of one Drumline deployment. `Jobs` is the type of your jobs list
 * (`typeof jobs`, imported with `import type`), so job names and payloads are checked at compile
 * time; without it, any name and payload are accepted and checked by the API alone.
 */
export interface DrumlineClient<Jobs extends readonly JobDefinition[] = readonly JobDefinition[]> {
  /** Every job the deployment defines. */
  jobs(): Promise<JobSummary[]>;
  /**
   * Enqueues one run. With `opts.jobId` the call is idempotent (the same id again enqueues nothing
   * and answers `duplicate: true`), so the client retries it on network errors; without one it never does.
   * @throws InvalidRequestError listing each field at fault, NotFoundError for a job the deployment does not define
   */
  enqueue<N extends JobNameOf<Jobs>>(name: N, data: PayloadOf<Jobs, N>, opts?: EnqueueOptions): Promise<EnqueuedRun<N>>;
  /** Enqueues 1 to 1000 runs, all or none; retried only when every item has a `jobId`. */
  bulk<N extends JobNameOf<Jobs>>(name: N, items: readonly BulkItem<PayloadOf<Jobs, N>>[]): Promise<EnqueuedRuns<N>>;
  /** One run with its result, progress and logs. @throws NotFoundError once it is gone */
  getRun<N extends JobNameOf<Jobs>>(name: N, id: string): Promise<Run<PayloadOf<Jobs, N>, N>>;
  /** A page of a job's runs, newest first; follow `nextCursor` until it is null. */
  listRuns<N extends JobNameOf<Jobs>>(name: N, options?: ListRunsOptions): Promise<RunPage<PayloadOf<Jobs, N>, N>>;
  /**
   * Resolves with the run as soon as it is completed or failed, or as it is at the deadline: check
   * `state`. Long-polls the API (no polling loop). @throws NotFoundError
   */
  waitForRun<N extends JobNameOf<Jobs>>(name: N, id: string, options?: WaitOptions): Promise<Run<PayloadOf<Jobs, N>, N>>;
  /** Removes a run that has not started, or tells the worker of a running one to abort. @throws ConflictError for a finished run */
  cancel(name: JobNameOf<Jobs>, id: string): Promise<CancelledRun>;
  /** Runs a failed run again. @throws ConflictError for a run that has not failed */
  retry(name: JobNameOf<Jobs>, id: string): Promise<RetriedRun>;
  /** Removes a finished run from the history. @throws ConflictError for an unfinished run */
  deleteRun(name: JobNameOf<Jobs>, id: string): Promise<void>;
  readonly schedules: SchedulesClient;
}

const segment = encodeURIComponent;

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

function isFinished(state: string): boolean {
  return (FINISHED_STATES as readonly string[]).includes(state as RunState);
}

const iso = (value: Date | string) => (value instanceof Date ? value.toISOString() : value);

/**
 * A client of the Drumline HTTP API at `url`, with its API token. Only `fetch` is used.
 *
 *   import type { jobs } from '@drumline/jobs';
 *   const drumline = createClient<typeof jobs>({ url: 'http://localhost:3000', token: process.env.DRUMLINE_TOKEN! });
 *   await drumline.enqueue('send-email', { to: 'a@example.com', subject: 'Hi', body: '...' });
 */
export function createClient<Jobs extends readonly JobDefinition[] = readonly JobDefinition[]>(options: ClientOptions): DrumlineClient<Jobs> {
  const http = new HttpTransport(options);
  const runPath = (name: string, id: string) => `/api/jobs/${segment(name)}/runs/${segment(id)}`;
  const schedulePath = (id: string, action = '') => `/api/schedules/${segment(id)}${action}`;

  const schedules: SchedulesClient = {
    async list(listOptions = {}) {
      return (await http.send<SchedulePage>({ method: 'GET', path: `/api/schedules${query({ ...listOptions })}`, idempotent: true })).body;
    },
    async *all(allOptions = {}) {
      let cursor: string | undefined;
      do {
        const page = await schedules.list({ ...(allOptions.pageSize ? { limit: allOptions.pageSize } : {}), ...(cursor ? { cursor } : {}) });
        yield* page.schedules;
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
    },
    async get(id) {
      return (await http.send<Schedule>({ method: 'GET', path: schedulePath(id), idempotent: true })).body;
    },
    async pause(id) {
      return (await http.send<Schedule>({ method: 'POST', path: schedulePath(id, '/pause'), idempotent: true })).body;
    },
    async resume(id) {
      return (await http.send<Schedule>({ method: 'POST', path: schedulePath(id, '/resume'), idempotent: true })).body;
    },
    async trigger(id) {
      // Each trigger is a new run: never sent twice.
      return (await http.send<TriggeredRun>({ method: 'POST', path: schedulePath(id, '/trigger'), idempotent: false })).body;
    },
    async backfill(id, range) {
      // Backfilled runs have the ticks' ids, so a second send enqueues nothing new.
      const body = { from: iso(range.from), to: iso(range.to) };
      return (await http.send<Backfill>({ method: 'POST', path: schedulePath(id, '/backfill'), body, idempotent: true })).body;
    },
    async ticks(id, tickOptions = {}) {
      const { from, to, limit, cursor } = tickOptions;
      const path = schedulePath(id, `/ticks${query({ from: from === undefined ? undefined : iso(from), to: to === undefined ? undefined : iso(to), limit, cursor })}`);
      return (await http.send<TickPage>({ method: 'GET', path, idempotent: true })).body;
    },
    async tick(id, tick) {
      const at = typeof tick === 'number' ? String(tick) : iso(tick);
      return (await http.send<TickStory>({ method: 'GET', path: schedulePath(id, `/ticks/${segment(at)}`), idempotent: true })).body;
    },
  };

  const client: DrumlineClient<Jobs> = {
    async jobs() {
      return (await http.send<JobSummary[]>({ method: 'GET', path: '/api/jobs', idempotent: true })).body;
    },
    async enqueue(name, data, opts) {
      const body = { data, ...(opts ? { opts } : {}) };
      const answer = await http.send<Omit<EnqueuedRun<typeof name>, 'duplicate'> & { duplicate?: boolean }>({
        method: 'POST',
        path: `/api/jobs/${segment(name)}`,
        body,
        idempotent: opts?.jobId !== undefined,
      });
      // A re-post of an existing jobId answers 200 with `duplicate: true` (a web from before that, 202 with the same id).
      return { ...answer.body, duplicate: answer.body.duplicate === true };
    },
    async bulk(name, items) {
      const idempotent = items.length > 0 && items.every((item) => item.opts?.jobId !== undefined);
      const answer = await http.send<Omit<EnqueuedRuns<typeof name>, 'duplicates'> & { duplicates?: string[] }>({
        method: 'POST',
        path: `/api/jobs/${segment(name)}/bulk`,
        body: { items },
        idempotent,
      });
      return { ...answer.body, duplicates: answer.body.duplicates ?? [] };
    },
    async getRun(name, id) {
      return (await http.send<Run<PayloadOf<Jobs, typeof name>, typeof name>>({ method: 'GET', path: runPath(name, id), idempotent: true })).body;
    },
    async listRuns(name, listOptions = {}) {
      const path = `/api/jobs/${segment(name)}/runs${query({ ...listOptions })}`;
      return (await http.send<RunPage<PayloadOf<Jobs, typeof name>, typeof name>>({ method: 'GET', path, idempotent: true })).body;
    },
    async waitForRun(name, id, waitOptions = {}) {
      const deadline = Date.now() + (waitOptions.timeoutMs ?? DEFAULT_WAIT_MS);
      for (;;) {
        const waitMs = Math.max(0, Math.min(MAX_WAIT_PER_REQUEST_MS, deadline - Date.now()));
        const asked = Date.now();
        const { body: run } = await http.send<Run<PayloadOf<Jobs, typeof name>, typeof name>>({
          method: 'GET',
          path: `${runPath(name, id)}${query({ wait: waitMs })}`,
          idempotent: true,
          timeoutMs: waitMs + http.defaultTimeoutMs,
        });
        if (isFinished(run.state) || Date.now() >= deadline) return run;
        // The API holds an unfinished answer until the wait is over; one that came back early
        // (a server from before `?wait=`) is asked again after a pause, not in a tight loop.
        const early = asked + waitMs - Date.now();
        if (early > 0) await sleep(Math.min(EARLY_ANSWER_PAUSE_MS, early));
      }
    },
    async cancel(name, id) {
      // Not retried: after a lost answer, a second cancel would report 404 or 409 for a run the first one cancelled.
      return (await http.send<CancelledRun>({ method: 'POST', path: `${runPath(name, id)}/cancel`, idempotent: false })).body;
    },
    async retry(name, id) {
      return (await http.send<RetriedRun>({ method: 'POST', path: `${runPath(name, id)}/retry`, idempotent: false })).body;
    },
    async deleteRun(name, id) {
      await http.send<undefined>({ method: 'DELETE', path: runPath(name, id), idempotent: false });
    },
    schedules,
  };
  return client;
}

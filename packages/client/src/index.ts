// A client of the Drumline HTTP API for other services. It imports job types only, never handlers:
// `import type { jobs } from '@drumline/jobs'`, then `createClient<typeof jobs>(...)`.
export { createClient, DEFAULT_WAIT_MS, MAX_WAIT_PER_REQUEST_MS } from './client.js';
export type { BackfillRange, BulkItem, ClientOptions, DrumlineClient, PayloadOf, SchedulesClient, WaitOptions } from './client.js';
export { DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS } from './http-transport.js';
export { FINISHED_STATES, isBroken } from './api-types.js';
export type {
  Backfill,
  BrokenSchedule,
  CancelledRun,
  EnqueuedRun,
  EnqueuedRuns,
  EnqueueOptions,
  JobSummary,
  LastRun,
  ListRunsOptions,
  ListSchedulesOptions,
  ListTicksOptions,
  RetriedRun,
  Run,
  RunPage,
  RunState,
  RunSummary,
  Schedule,
  SchedulePage,
  Tick,
  TickPage,
  TickState,
  TickStory,
  TriggeredRun,
} from './api-types.js';
export * from './errors/index.js';

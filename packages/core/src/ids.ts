import { z } from 'zod';

// The one id alphabet: ASCII letters, digits, '.', '_' and '-'. An id made of them goes into a URL
// path, a Redis key and a log line as it is, never holds ':' (BullMQ's key separator) nor a lone
// UTF-16 surrogate (which Redis stores as U+FFFD, so the run's key no longer matches its id), and
// leaves '@' to the run ids the system makes from schedule ids (`<schedule id>@<ms>`).

export const MAX_SCHEDULE_ID_LENGTH = 128;
export const MAX_JOB_ID_LENGTH = 256;
/** Every run id fits: a job id, or the longest a schedule makes, `<128 characters>@<16 digits>.manual` (152). */
export const MAX_RUN_ID_LENGTH = MAX_JOB_ID_LENGTH;

const SCHEDULE_ID = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,${MAX_SCHEDULE_ID_LENGTH - 1}}$`);
const JOB_ID = new RegExp(`^(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9._-]{0,${MAX_JOB_ID_LENGTH - 1}}$`);
// A whole number (BullMQ's own ids), a job id, or a tick's or a manual trigger's id (scheduled-run-id.ts).
const RUN_ID = new RegExp(`^(?:[0-9]{1,${MAX_RUN_ID_LENGTH}}|${JOB_ID.source.slice(1, -1)}|${SCHEDULE_ID.source.slice(1, -1)}@[0-9]{1,16}(?:\\.manual)?)$`);

const ALPHABET = "letters, digits, '.', '_' or '-', starting with a letter or digit";
export const SCHEDULE_ID_RULE = `1-${MAX_SCHEDULE_ID_LENGTH} characters of ${ALPHABET}`;
export const JOB_ID_RULE = `1-${MAX_JOB_ID_LENGTH} characters of ${ALPHABET}, not digits only (BullMQ numbers its own runs that way)`;
export const RUN_ID_RULE = `a job id (${JOB_ID_RULE}), a run id BullMQ numbered, or a schedule's \`<schedule id>@<ms>\` or \`<schedule id>@<ms>.manual\``;

/** A schedule's id: it keys the schedule's state and prefixes its runs' ids. */
export function isScheduleId(id: string): boolean {
  return SCHEDULE_ID.test(id);
}

/** An id a caller may give a run (the enqueue's `jobId`): never one the system makes. */
export function isJobId(id: string): boolean {
  return JOB_ID.test(id);
}

/** Any id a run can have: a caller's job id, BullMQ's number, or one a schedule made. */
export function isRunId(id: string): boolean {
  return RUN_ID.test(id);
}

// As patterns, so the OpenAPI document states them too.
export const scheduleIdSchema = z.string().regex(SCHEDULE_ID, `must be ${SCHEDULE_ID_RULE}`);
export const jobIdSchema = z.string().regex(JOB_ID, `must be ${JOB_ID_RULE}`);
export const runIdSchema = z.string().regex(RUN_ID, `must be ${RUN_ID_RULE}`);

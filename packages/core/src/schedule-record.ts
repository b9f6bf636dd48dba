import { z } from 'zod';
import { MAX_MISFIRE_CAP, type DefinedSchedule, type JobDefinition } from './define-job.js';
import { DrumlineError, InvalidTimingError, type PayloadIssue } from './errors/index.js';
import type { JobRegistry } from './job-registry.js';
import { MAX_JITTER_MS } from './schedule-jitter.js';
import {
  assertScheduleId,
  normalizeTiming,
  type MisfirePolicy,
  type NormalizedTiming,
  type OverlapPolicy,
} from './schedule-spec.js';

/** Who owns a schedule: `code` schedules follow packages/jobs and are pruned with it; `api` ones never are. */
export type ScheduleOwner = 'code' | 'api';

/** A schedule as stored in Redis: the leader materializes it, the API serves it. */
export interface ScheduleRecord {
  id: string;
  job: string;
  timing: NormalizedTiming;
  data: unknown;
  misfire: MisfirePolicy;
  misfireCap: number;
  misfireGraceMs: number | null;
  overlap: OverlapPolicy;
  /** Each tick's run is due jitterOffsetMs(id, tick, jitterMs) after it; absent for 0, so older records read the same. */
  jitterMs?: number;
  owner: ScheduleOwner;
}

export const DEFAULT_MISFIRE_CAP = 100;

/** The body of `PUT /api/schedules/:id`. */
export const scheduleInputSchema = z
  .object({
    job: z.string().min(1),
    cron: z.string().min(1).optional(),
    tz: z.string().min(1).optional(),
    every: z.union([z.number().int(), z.string().min(1)]).optional(),
    at: z.string().min(1).optional(),
    data: z.unknown().optional(),
    misfire: z.enum(['skip', 'once', 'all']).optional(),
    misfireCap: z.number().int().min(1).max(MAX_MISFIRE_CAP).optional(),
    misfireGraceMs: z.number().int().min(0).optional(),
    overlap: z.enum(['allow', 'skip', 'queue']).optional(),
    jitterMs: z.number().int().min(0).max(MAX_JITTER_MS).optional(),
  })
  .strict();
export type ScheduleInput = z.infer<typeof scheduleInputSchema>;

/** A schedule given through the API is wrong; `issues` name each field, as for payloads. */
export class InvalidScheduleError extends DrumlineError {
  readonly code = 'DRUMLINE_INVALID_SCHEDULE';

  constructor(readonly issues: PayloadIssue[]) {
    super(`invalid schedule: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`);
  }
}

function recordFor(job: JobDefinition, declaration: DefinedSchedule, owner: ScheduleOwner): ScheduleRecord {
  return {
    id: declaration.id,
    job: job.name,
    timing: declaration.timing,
    data: declaration.data ?? {},
    misfire: declaration.misfire ?? 'once',
    misfireCap: declaration.misfireCap ?? DEFAULT_MISFIRE_CAP,
    misfireGraceMs: declaration.misfireGraceMs ?? null,
    overlap: declaration.overlap ?? 'allow',
    ...(declaration.jitterMs ? { jitterMs: declaration.jitterMs } : {}),
    owner,
  };
}

/** The schedules declared in code, as records owned by `code`. */
export function codeScheduleRecords(registry: JobRegistry): ScheduleRecord[] {
  return registry.jobs.flatMap((job) => job.schedules.map((declaration) => recordFor(job, declaration, 'code')));
}

/**
 * Checks a schedule sent to the API (job exists, timing parses, data satisfies the job's schema)
 * and returns it as an `api` record. @throws InvalidScheduleError naming each field at fault.
 */
export function apiScheduleRecord(registry: JobRegistry, id: string, input: ScheduleInput): ScheduleRecord {
  const issues: PayloadIssue[] = [];
  try {
    assertScheduleId(id, 'schedule');
  } catch (error) {
    issues.push({ path: 'id', message: (error as Error).message });
  }
  const job = registry.find(input.job);
  if (!job) issues.push({ path: 'job', message: `no job named \`${input.job}\` is defined` });
  const { job: _job, ...declaration } = input;
  let timing: NormalizedTiming | undefined;
  try {
    timing = normalizeTiming(declaration as Parameters<typeof normalizeTiming>[0], `schedule \`${id}\``);
  } catch (error) {
    if (!(error instanceof InvalidTimingError)) throw error;
    issues.push({ path: error.field, message: error.message });
  }
  if (job) {
    const parsed = job.schema.safeParse(input.data ?? {});
    if (!parsed.success) {
      for (const issue of parsed.error.issues) issues.push({ path: ['data', ...issue.path].join('.'), message: issue.message });
    }
  }
  if (issues.length > 0 || !job || !timing) throw new InvalidScheduleError(issues);
  return {
    id,
    job: job.name,
    timing,
    data: input.data ?? {},
    misfire: input.misfire ?? 'once',
    misfireCap: input.misfireCap ?? DEFAULT_MISFIRE_CAP,
    misfireGraceMs: input.misfireGraceMs ?? null,
    overlap: input.overlap ?? 'allow',
    ...(input.jitterMs ? { jitterMs: input.jitterMs } : {}),
    owner: 'api',
  };
}

/** Identity of what a schedule produces: when it changes, pending occurrences are made again. */
export function scheduleFingerprint(record: ScheduleRecord): string {
  // Jitter moves when runs are due, so a change of it makes them again; a record without it keeps the fingerprint it always had.
  return JSON.stringify(record.jitterMs ? [record.job, record.timing, record.data, record.jitterMs] : [record.job, record.timing, record.data]);
}

/** Identity of the whole record, policies included: used to tell `changed` from `unchanged`. */
export function sameSchedule(a: ScheduleRecord, b: ScheduleRecord): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

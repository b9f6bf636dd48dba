import { isBroken, NotFoundError, type BrokenSchedule, type DrumlineClient, type RunState, type Schedule } from '@drumline/client';
import type { ScheduleRecord } from '@drumline/core/runtime';
import { describeTiming, recordOf } from './deployed-schedule.js';

/** What core's comparisons and tick engine are, passed in so this module loads no runtime code itself. */
export interface PlanRules {
  sameSchedule(a: ScheduleRecord, b: ScheduleRecord): boolean;
  scheduleFingerprint(record: ScheduleRecord): string;
  ticksAfter(timing: ScheduleRecord['timing'], afterMs: number, limit: number): number[];
}

export interface FieldChange {
  field: keyof ScheduleRecord;
  from: unknown;
  to: unknown;
}

export interface PlannedSchedule {
  id: string;
  job: string;
  timing: string;
  /** The next ticks once deployed (ISO). */
  nextRuns: string[];
}

export interface PlannedChange extends PlannedSchedule {
  fields: FieldChange[];
  /** Job, timing or data changed: the leader withdraws the pending runs and makes them again. */
  remade: boolean;
  /** The deployed schedule was made through the API: code takes it over. */
  takesOver: boolean;
}

export interface PlannedRemoval {
  id: string;
  job: string;
  timing: string;
  /** Runs added ahead for its coming ticks, which the leader withdraws; null when they could not be listed. */
  pendingRuns: string[] | null;
}

export interface Plan {
  added: PlannedSchedule[];
  changed: PlannedChange[];
  removed: PlannedRemoval[];
  /** API-owned schedules the code does not declare: a deploy leaves them as they are. */
  kept: { id: string; job: string }[];
  /** Stored schedules the API cannot show; `declared`: code declares the id, so the deploy replaces it. */
  broken: { id: string; broken: string; declared: boolean }[];
  unchanged: number;
}

export const PLAN_NEXT_RUNS = 5;
const COMPARED_FIELDS = ['job', 'timing', 'data', 'misfire', 'misfireCap', 'misfireGraceMs', 'overlap', 'jitterMs', 'owner'] as const;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The diff the scheduler's reconciliation (apps/scheduler/src/reconcile.ts) would make of the
 * deployed schedules to reach `code`: a code schedule is added, changed (an api-owned one taken
 * over) or unchanged by core's `sameSchedule`; a deployed code-owned schedule the code no longer
 * declares is removed; an api-owned one is kept.
 */
export function planSchedules(code: readonly ScheduleRecord[], deployed: readonly (Schedule | BrokenSchedule)[], rules: PlanRules, now: number): Plan {
  const plan: Plan = { added: [], changed: [], removed: [], kept: [], broken: [], unchanged: 0 };
  const declared = new Set(code.map((record) => record.id));
  const shown = new Map<string, ScheduleRecord>();
  for (const schedule of deployed) {
    if (isBroken(schedule)) plan.broken.push({ id: schedule.id, broken: schedule.broken, declared: declared.has(schedule.id) });
    else shown.set(schedule.id, recordOf(schedule));
  }
  const next = (record: ScheduleRecord) => rules.ticksAfter(record.timing, now, PLAN_NEXT_RUNS).map(iso);
  for (const record of code) {
    if (plan.broken.some((entry) => entry.id === record.id)) continue;
    const existing = shown.get(record.id);
    const about = { id: record.id, job: record.job, timing: describeTiming(record.timing), nextRuns: next(record) };
    if (!existing) {
      plan.added.push(about);
      continue;
    }
    if (rules.sameSchedule(existing, record)) {
      plan.unchanged += 1;
      continue;
    }
    const fields = COMPARED_FIELDS.filter((field) => JSON.stringify(existing[field]) !== JSON.stringify(record[field])).map((field) => ({
      field,
      from: field === 'timing' ? describeTiming(existing.timing) : existing[field],
      to: field === 'timing' ? describeTiming(record.timing) : record[field],
    }));
    plan.changed.push({ ...about, fields, remade: rules.scheduleFingerprint(existing) !== rules.scheduleFingerprint(record), takesOver: existing.owner === 'api' });
  }
  for (const record of shown.values()) {
    if (declared.has(record.id)) continue;
    if (record.owner === 'code') plan.removed.push({ id: record.id, job: record.job, timing: describeTiming(record.timing), pendingRuns: null });
    else plan.kept.push({ id: record.id, job: record.job });
  }
  return plan;
}

export function hasChanges(plan: Plan): boolean {
  return plan.added.length + plan.changed.length + plan.removed.length + plan.broken.filter((entry) => entry.declared).length > 0;
}

const PENDING_STATES: readonly RunState[] = ['waiting', 'prioritized', 'delayed'];
/** Pages of a state looked at, at most: each costs the web one bounded scan. */
const MAX_PAGES = 20;

/**
 * The runs a removal withdraws: those the leader added ahead for ticks still to come. A run of a
 * passed tick, or one triggered by hand, is not withdrawn and runs anyway. Null when the deployed
 * code no longer defines the job, so its runs cannot be listed.
 */
export async function pendingRunsOf(client: DrumlineClient, removal: PlannedRemoval, now: number): Promise<string[] | null> {
  const ids: string[] = [];
  try {
    for (const state of PENDING_STATES) {
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page += 1) {
        const answer = await client.listRuns(removal.job, { state, limit: 100, ...(cursor ? { cursor } : {}) });
        for (const run of answer.runs) {
          if (run.scheduleId === removal.id && !run.manual && run.scheduledFor !== null && Date.parse(run.scheduledFor) > now) ids.push(run.id);
        }
        cursor = answer.nextCursor ?? undefined;
        if (!cursor) break;
      }
    }
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
  return ids.sort();
}

function value(field: FieldChange['field'], shown: unknown): string {
  if (field === 'timing' && typeof shown === 'string') return shown;
  return JSON.stringify(shown) ?? 'unset';
}

/** The plan for people: one line per schedule, its changes and next runs beneath. */
export function renderPlan(plan: Plan): string {
  const lines: string[] = [];
  const counts = [
    `${plan.added.length} to add`,
    `${plan.changed.length} to change`,
    `${plan.removed.length} to remove`,
    `${plan.kept.length} api-owned kept`,
    `${plan.unchanged} unchanged`,
    ...(plan.broken.length > 0 ? [`${plan.broken.length} unreadable`] : []),
  ];
  if (!hasChanges(plan)) lines.push(`No changes: the deployed schedules match the code (${counts.slice(3).join(', ')}).`);
  else lines.push(`Plan: ${counts.join(', ')}.`);
  const nextRuns = (runs: string[]) => `    next runs: ${runs.length ? runs.map((run) => run.replace(/\.000Z$/, 'Z')).join(', ') : 'none'}`;
  for (const added of plan.added) {
    lines.push('', `+ ${added.id} (job ${added.job}): ${added.timing}`, nextRuns(added.nextRuns));
  }
  for (const changed of plan.changed) {
    lines.push('', `~ ${changed.id} (job ${changed.job})${changed.takesOver ? ': made through the API, code takes it over' : ''}`);
    for (const field of changed.fields) lines.push(`    ${field.field}: ${value(field.field, field.from)} -> ${value(field.field, field.to)}`);
    lines.push(changed.remade ? '    its pending runs are withdrawn and made again' : '    its pending runs stay');
    lines.push(nextRuns(changed.nextRuns));
  }
  for (const removed of plan.removed) {
    const pending =
      removed.pendingRuns === null
        ? 'its pending runs could not be listed (the deployment does not define the job)'
        : removed.pendingRuns.length === 0
          ? 'no pending run'
          : `its ${removed.pendingRuns.length} pending run(s) withdrawn: ${removed.pendingRuns.join(', ')}`;
    lines.push('', `- ${removed.id} (job ${removed.job}): ${removed.timing}`, `    removed, ${pending}`);
  }
  for (const kept of plan.kept) lines.push('', `= ${kept.id} (job ${kept.job}): made through the API, kept`);
  for (const broken of plan.broken) {
    lines.push('', `! ${broken.id}: stored but unreadable (${broken.broken}); ${broken.declared ? 'the deploy replaces it with the code' : 'not compared'}`);
  }
  return `${lines.join('\n')}\n`;
}

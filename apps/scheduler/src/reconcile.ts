import { codeScheduleRecords, sameSchedule, type JobRegistry, type LeaderElection, type Logger, type ScheduleRecord, type ScheduleStore } from '@drumline/core/runtime';

export interface ReconcileDiff {
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: number;
}

/**
 * Makes the stored schedules match the code: creates and updates code-owned schedules, and
 * prunes code-owned ones the code no longer declares. API-owned schedules are left alone, except
 * one whose id code now declares: code takes it over (logged). Paused state lives apart and
 * survives. Every write is fenced; returns undefined if this process lost the lease meanwhile.
 */
export async function reconcileSchedules(deps: {
  registry: JobRegistry;
  store: ScheduleStore;
  election: LeaderElection;
  logger: Logger;
}): Promise<ReconcileDiff | undefined> {
  const { registry, store, election, logger } = deps;
  const desired = codeScheduleRecords(registry);
  // The code's own schedules, and whatever holds the ids code declares (an API schedule it takes over).
  const [owned, declaredRaw] = await Promise.all([store.codeOwned(), store.rawRecords(desired.map((record) => record.id))]);
  const stored = new Map(owned.map((record) => [record.id, record]));
  declaredRaw.forEach((json, index) => {
    if (json) stored.set((desired[index] as (typeof desired)[number]).id, JSON.parse(json) as ScheduleRecord);
  });
  const diff: ReconcileDiff = { added: [], changed: [], removed: [], unchanged: 0 };
  const writes: [string, string][] = [];
  for (const record of desired) {
    const existing = stored.get(record.id);
    if (existing && sameSchedule(existing, record)) {
      diff.unchanged += 1;
      continue;
    }
    if (existing?.owner === 'api') logger.warn({ schedule: record.id }, 'code now declares this api-owned schedule: code takes it over');
    (existing ? diff.changed : diff.added).push(record.id);
    writes.push([record.id, JSON.stringify(record)]);
  }
  const declared = new Set(desired.map((record) => record.id));
  for (const record of stored.values()) {
    if (record.owner === 'code' && !declared.has(record.id)) diff.removed.push(record.id);
  }
  if (writes.length > 0 || diff.removed.length > 0) {
    if (!(await election.writeHashFenced(store.keys.schedules, writes, diff.removed))) return undefined;
  }
  // After the fenced write: an id is dropped from the index only once its record is gone.
  await store.indexCodeOwned([...declared, ...owned.map((record) => record.id)], diff.removed);
  logger.info(diff, `reconciled schedules with code: ${diff.added.length} added, ${diff.changed.length} changed, ${diff.removed.length} removed, ${diff.unchanged} unchanged`);
  return diff;
}

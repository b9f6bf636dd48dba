import type { z } from 'zod';
import type { JobDefinition } from './define-job.js';
import { definitionSite } from './definition-site.js';
import { JobDefinitionError, UnknownJobError } from './errors/index.js';

/** The name of any job in a registry tuple such as `typeof jobs`. */
export type JobNameOf<Jobs extends readonly JobDefinition[]> = Jobs[number]['name'];
/** The payload a caller sends for job `Name` (the schema's input type). */
export type JobDataOf<Jobs extends readonly JobDefinition[], Name extends JobNameOf<Jobs>> = z.input<
  Extract<Jobs[number], { name: Name }>['schema']
>;

/** Every job the apps know, looked up by name; built once at start-up by `createJobRegistry`. */
export interface JobRegistry {
  readonly jobs: readonly JobDefinition[];
  /** Distinct queue names, in definition order. */
  readonly queueNames: readonly string[];
  find(name: string): JobDefinition | undefined;
  /** @throws UnknownJobError */
  get(name: string): JobDefinition;
}

/** The files two clashing definitions are in, as far as known. */
function sitesOf(...definitions: (JobDefinition | undefined)[]): string | undefined {
  const files = [...new Set(definitions.map((definition) => definition && definitionSite(definition)).filter((file) => file !== undefined))];
  return files.length > 0 ? files.join(' and ') : undefined;
}

/**
 * Checks a list of job definitions as a whole (unique job names, unique schedule ids)
 * and indexes it. Throws a JobDefinitionError naming the culprit.
 */
export function createJobRegistry(jobs: readonly JobDefinition[]): JobRegistry {
  const byName = new Map<string, JobDefinition>();
  const scheduleOwners = new Map<string, string>();
  for (const job of jobs) {
    const first = byName.get(job.name);
    if (first) throw new JobDefinitionError(`job \`${job.name}\` is defined twice: job names must be unique`, { file: sitesOf(first, job) });
    byName.set(job.name, job);
    for (const schedule of job.schedules) {
      const other = scheduleOwners.get(schedule.id);
      if (other) {
        throw new JobDefinitionError(`schedule id \`${schedule.id}\` is declared by job \`${other}\` and job \`${job.name}\`: schedule ids must be unique`, {
          file: sitesOf(byName.get(other), job),
        });
      }
      scheduleOwners.set(schedule.id, job.name);
    }
  }
  const queueNames = [...new Set(jobs.map((job) => job.queue))];
  return Object.freeze({
    jobs,
    queueNames,
    find: (name: string) => byName.get(name),
    get(name: string) {
      const job = byName.get(name);
      if (!job) throw new UnknownJobError(name);
      return job;
    },
  });
}

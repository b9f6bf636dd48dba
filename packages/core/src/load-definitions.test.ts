import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_JOBS_MODULE, jobsModuleSpecifier, readJobsModule } from './load-definitions.js';

describe('JOBS_MODULE', () => {
  it('defaults to @drumline/jobs when unset or blank', () => {
    expect(jobsModuleSpecifier(undefined, '/srv/app')).toBe(DEFAULT_JOBS_MODULE);
    expect(jobsModuleSpecifier('  ', '/srv/app')).toBe(DEFAULT_JOBS_MODULE);
  });

  it('resolves a relative path from the working directory and an absolute one as it is, as file URLs', () => {
    expect(jobsModuleSpecifier('./jobs/dist/index.js', '/srv/app')).toBe(pathToFileURL('/srv/app/jobs/dist/index.js').href);
    expect(jobsModuleSpecifier('../shared/jobs.js', '/srv/app')).toBe(pathToFileURL('/srv/shared/jobs.js').href);
    expect(jobsModuleSpecifier('/opt/jobs/index.js', '/srv/app')).toBe(pathToFileURL('/opt/jobs/index.js').href);
  });

  it('keeps a package name for the app to resolve', () => {
    expect(jobsModuleSpecifier('@acme/jobs', '/srv/app')).toBe('@acme/jobs');
  });

  it('refuses a module without a `jobs` list, or with `initTasks` that is not one, naming JOBS_MODULE', () => {
    expect(() => readJobsModule({ default: [] }, 'x')).toThrow(expect.objectContaining({ variables: ['JOBS_MODULE'], message: expect.stringContaining('`x` exports no `jobs` list') }));
    expect(() => readJobsModule({ jobs: [], initTasks: {} }, 'x')).toThrow(/`x` exports `initTasks` that is not a list/);
    expect(readJobsModule({ jobs: [] }, 'x')).toEqual({ jobs: [], initTasks: [] });
  });
});

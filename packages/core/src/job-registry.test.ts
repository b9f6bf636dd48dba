import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob, type JobDefinition } from './define-job.js';
import { JobDefinitionError, UnknownJobError } from './errors/index.js';
import { createJobRegistry } from './job-registry.js';

const schema = z.object({});

function job(name: string, options: { queue?: string; scheduleIds?: string[] } = {}) {
  return defineJob({
    name,
    schema,
    handler: () => undefined,
    ...(options.queue ? { queue: options.queue } : {}),
    schedules: (options.scheduleIds ?? []).map((id) => ({ id, every: '1h' })),
  });
}

describe('createJobRegistry', () => {
  it('refuses a job name defined twice, naming the job', () => {
    expect(() => createJobRegistry([job('send-email'), job('ping'), job('send-email', { queue: 'email' })])).toThrow(
      new JobDefinitionError('job `send-email` is defined twice: job names must be unique'),
    );
  });

  it('refuses a schedule id declared by two jobs, naming the schedule and both jobs', () => {
    const build = () => createJobRegistry([job('daily-report', { scheduleIds: ['nightly'] }), job('expire-coupons', { scheduleIds: ['nightly'] })]);

    expect(build).toThrow(JobDefinitionError);
    expect(build).toThrow(/schedule id `nightly` is declared by job `daily-report` and job `expire-coupons`/);
  });

  it('finds a job by name with get and find', () => {
    const ping = job('ping');
    const registry = createJobRegistry([job('send-email'), ping]);

    expect(registry.get('ping')).toBe(ping);
    expect(registry.find('ping')).toBe(ping);
  });

  it('throws UnknownJobError with its stable code from get of an unknown name, and find returns undefined', () => {
    const registry = createJobRegistry([job('ping')]);

    expect(registry.find('pong')).toBeUndefined();
    let thrown: unknown;
    try {
      registry.get('pong');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UnknownJobError);
    expect(thrown).toMatchObject({ name: 'UnknownJobError', code: 'DRUMLINE_UNKNOWN_JOB', jobName: 'pong' });
    expect((thrown as Error).message).toContain('`pong`');
  });

  it('lists each queue once, in the order jobs first use it', () => {
    const registry = createJobRegistry([
      job('a', { queue: 'email' }),
      job('b'),
      job('c', { queue: 'email' }),
      job('d', { queue: 'reports' }),
      job('e'),
    ]);

    expect(registry.queueNames).toEqual(['email', 'default', 'reports']);
  });

  it('builds the real registry of @drumline/jobs without error', async () => {
    // Loaded at run time only: @drumline/jobs depends on core, so core cannot depend on it, and a
    // static import would pull the jobs sources (typed against core's dist) into core's typecheck.
    const jobsEntry = '../../jobs/src/index.js';
    const { jobs } = (await import(jobsEntry)) as { jobs: readonly JobDefinition[] };

    const registry = createJobRegistry(jobs);

    expect(jobs.length).toBeGreaterThan(0);
    for (const definition of jobs) {
      expect(registry.get(definition.name)).toBe(definition);
      expect(registry.queueNames).toContain(definition.queue);
    }
  });
});

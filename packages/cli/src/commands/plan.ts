import type { JobDefinition } from '@drumline/core';
import type { Command } from 'commander';
import { UsageError } from '../errors/usage-error.js';
import { ExitCode } from '../exit-codes.js';
import { hasChanges, pendingRunsOf, planSchedules, renderPlan } from '../plan.js';
import type { Session } from '../session.js';

type Register = (command: Command) => Command;
type Open = (command: Command) => Session;

type Runtime = typeof import('@drumline/core/runtime');

/** The jobs list of a module: `@drumline/jobs` (the built packages/jobs) or a file of yours that exports `jobs`, read as JOBS_MODULE is. */
async function loadJobs(specifier: string, cwd: string, runtime: Runtime): Promise<readonly JobDefinition[]> {
  let loaded: unknown;
  try {
    loaded = await import(runtime.jobsModuleSpecifier(specifier, cwd));
  } catch (error) {
    throw new UsageError(`--jobs ${specifier} cannot be loaded (${(error as Error).message}); build it first (pnpm build)`);
  }
  try {
    return runtime.readJobsModule(loaded, specifier).jobs;
  } catch {
    throw new UsageError(`--jobs ${specifier} exports no \`jobs\` list`);
  }
}

export function registerPlanCommand(program: Command, open: Open, common: Register): void {
  common(
    program
      .command('plan')
      .description('show what deploying the code would change in the running schedules: added, changed, removed, api-owned kept')
      .option('--jobs <module>', 'the jobs list to deploy: a package or a file exporting `jobs`', '@drumline/jobs')
      .option('--exit-code', `exit ${ExitCode.planHasChanges} when the deploy would change schedules (a CI gate)`),
  ).action(async (options: { jobs: string; exitCode?: boolean }, command: Command) => {
    const session = open(command);
    // The same registry checks and comparisons the scheduler applies; loaded only by this command.
    const runtime = await import('@drumline/core/runtime');
    const jobs = await loadJobs(options.jobs, session.context.cwd, runtime);
    const code = runtime.codeScheduleRecords(runtime.createJobRegistry(jobs));
    const deployed = [];
    for await (const schedule of session.api().schedules.all({ pageSize: 500 })) deployed.push(schedule);
    const now = session.now();
    const plan = planSchedules(code, deployed, runtime, now);
    for (const removal of plan.removed) removal.pendingRuns = await pendingRunsOf(session.api(), removal, now);
    session.print(renderPlan(plan), { ...plan, hasChanges: hasChanges(plan) });
    if (options.exitCode && hasChanges(plan)) session.exitCode = ExitCode.planHasChanges;
  });
}

import type { JobDefinition } from '@drumline/core';
import type { Command } from 'commander';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from '../errors/usage-error.js';
import { ExitCode } from '../exit-codes.js';
import { hasChanges, pendingRunsOf, planSchedules, renderPlan } from '../plan.js';
import type { Session } from '../session.js';

type Register = (command: Command) => Command;
type Open = (command: Command) => Session;

/** The jobs list of a module: `@drumline/jobs` (the built packages/jobs) or a file of yours that exports `jobs`. */
async function loadJobs(specifier: string, cwd: string): Promise<readonly JobDefinition[]> {
  const target = specifier.startsWith('.') || isAbsolute(specifier) ? pathToFileURL(resolve(cwd, specifier)).href : specifier;
  let loaded: { jobs?: unknown };
  try {
    loaded = (await import(target)) as { jobs?: unknown };
  } catch (error) {
    throw new UsageError(`--jobs ${specifier} cannot be loaded (${(error as Error).message}); build it first (pnpm build)`);
  }
  if (!Array.isArray(loaded.jobs)) throw new UsageError(`--jobs ${specifier} exports no \`jobs\` list`);
  return loaded.jobs as readonly JobDefinition[];
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
    const jobs = await loadJobs(options.jobs, session.context.cwd);
    // The same registry checks and comparisons the scheduler applies; loaded only by this command.
    const runtime = await import('@drumline/core/runtime');
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

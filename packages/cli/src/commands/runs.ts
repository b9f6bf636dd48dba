import { FINISHED_STATES, type Run, type RunState, type RunSummary } from '@drumline/client';
import { Option, type Command } from 'commander';
import { parseDuration } from '../duration.js';
import { UsageError } from '../errors/usage-error.js';
import { ExitCode } from '../exit-codes.js';
import { instant, table } from '../output.js';
import type { Session } from '../session.js';

type Register = (command: Command) => Command;
type Open = (command: Command) => Session;

const RUN_STATES: RunState[] = ['active', 'waiting', 'prioritized', 'delayed', 'completed', 'failed'];

function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--data is not JSON (${(error as Error).message}); quote it for the shell: --data '{"to":"a@example.com"}'`);
  }
}

function integer(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new UsageError(`${flag} \`${text}\` must be a whole number from ${min} to ${max}`);
  return value;
}

function runRow(run: RunSummary): Record<string, string> {
  return {
    id: run.id,
    state: run.state,
    attempts: String(run.attemptsMade),
    created: instant(run.createdAt),
    finished: instant(run.finishedAt),
    schedule: run.scheduleId ?? '-',
    reason: run.failedReason ?? '',
  };
}

function describeRun(run: Run): string {
  const lines: [string, string][] = [
    ['id', run.id],
    ['job', `${run.name} (queue ${run.queue})`],
    ['state', run.state],
    ['attempts', String(run.attemptsMade)],
    ['created', instant(run.createdAt)],
    ['started', instant(run.startedAt)],
    ['finished', instant(run.finishedAt)],
    ['duration', run.durationMs === null ? '-' : `${run.durationMs} ms`],
  ];
  if (run.scheduleId) lines.push(['schedule', `${run.scheduleId}${run.manual ? ' (run now)' : ''}, for ${instant(run.scheduledFor)}`]);
  if (run.failedReason) lines.push(['reason', run.failedReason]);
  lines.push(['data', JSON.stringify(run.data)]);
  if (run.returnValue !== null && run.returnValue !== undefined) lines.push(['returned', JSON.stringify(run.returnValue)]);
  if (run.progress !== 0 && run.progress !== null && run.progress !== undefined) lines.push(['progress', JSON.stringify(run.progress)]);
  const width = Math.max(...lines.map(([key]) => key.length)) + 1;
  const text = lines.map(([key, value]) => `${`${key}:`.padEnd(width)} ${value}`).join('\n');
  return run.logs.length === 0 ? text : `${text}\nlogs:\n${run.logs.map((line) => `  ${line}`).join('\n')}`;
}

/** jobs, enqueue, runs, run, cancel, retry, delete */
export function registerRunCommands(program: Command, open: Open, common: Register): void {
  common(program.command('jobs').description('list the jobs the deployment defines')).action(async (_options, command: Command) => {
    const session = open(command);
    const jobs = await session.api().jobs();
    const rows = jobs.map((job) => ({
      name: job.name,
      queue: job.queue,
      attempts: String(job.attempts),
      timeout: `${job.timeoutMs / 1000}s`,
      schedules: job.schedules.map((schedule) => schedule.id).join(', ') || '-',
    }));
    session.print(table(rows, ['name', 'queue', 'attempts', 'timeout', 'schedules']) || 'no jobs\n', jobs);
  });

  common(
    program
      .command('enqueue')
      .description('enqueue one run of a job')
      .argument('<job>', 'the job name')
      .option('--data <json>', 'the payload, as JSON', '{}')
      .option('--job-id <id>', 'idempotency key: the same id again enqueues nothing')
      .option('--delay <duration>', 'start no sooner than this (1500, 30s, 5m)')
      .option('--priority <n>', '1 is the highest'),
  ).action(async (job: string, options: { data: string; jobId?: string; delay?: string; priority?: string }, command: Command) => {
    const session = open(command);
    const data = parseData(options.data);
    const opts = {
      ...(options.jobId !== undefined ? { jobId: options.jobId } : {}),
      ...(options.delay !== undefined ? { delay: parseDuration(options.delay, '--delay') } : {}),
      ...(options.priority !== undefined ? { priority: integer(options.priority, '--priority', 0, 2_097_151) } : {}),
    };
    const run = await session.api().enqueue(job, data, Object.keys(opts).length > 0 ? opts : undefined);
    session.print(run.duplicate ? `run ${run.id} of ${run.name} already exists: nothing enqueued` : `enqueued run ${run.id} of ${run.name} on queue ${run.queue}`, run);
  });

  common(
    program
      .command('runs')
      .description("list a job's runs, unfinished first, then the latest finished")
      .argument('<job>', 'the job name')
      .addOption(new Option('--state <state>', 'only runs in this state').choices(RUN_STATES))
      .option('--limit <n>', 'at most this many runs (1-1000)', '20'),
  ).action(async (job: string, options: { state?: RunState; limit: string }, command: Command) => {
    const session = open(command);
    const limit = integer(options.limit, '--limit', 1, 1000);
    const runs: RunSummary[] = [];
    let cursor: string | undefined;
    // A page may hold fewer runs than asked, even none, and still have a next one.
    do {
      const page = await session.api().listRuns(job, { limit: Math.min(100, limit - runs.length), ...(options.state ? { state: options.state } : {}), ...(cursor ? { cursor } : {}) });
      runs.push(...page.runs);
      cursor = page.nextCursor ?? undefined;
    } while (cursor && runs.length < limit);
    session.print(table(runs.map(runRow), ['id', 'state', 'attempts', 'created', 'finished', 'schedule', 'reason']) || 'no runs\n', runs);
  });

  common(
    program
      .command('run')
      .description('show one run: state, payload, result or failure, logs')
      .argument('<job>', 'the job name')
      .argument('<id>', 'the run id')
      .option('--wait <duration>', `wait until it finishes, at most this long (30s, 5m); exits ${ExitCode.runFailed} if it failed, ${ExitCode.runUnfinished} if still unfinished`),
  ).action(async (job: string, id: string, options: { wait?: string }, command: Command) => {
    const session = open(command);
    const run = options.wait === undefined ? await session.api().getRun(job, id) : await session.api().waitForRun(job, id, { timeoutMs: parseDuration(options.wait, '--wait') });
    session.print(describeRun(run), run);
    if (options.wait !== undefined) {
      if (run.state === 'failed') session.exitCode = ExitCode.runFailed;
      else if (!(FINISHED_STATES as readonly string[]).includes(run.state)) session.exitCode = ExitCode.runUnfinished;
    }
  });

  common(program.command('cancel').description('cancel a run: removed if not started, aborted on its worker if active').argument('<job>').argument('<id>')).action(
    async (job: string, id: string, _options, command: Command) => {
      const session = open(command);
      const result = await session.api().cancel(job, id);
      session.print(result.state === 'cancelled' ? `cancelled run ${id}: it had not started and is removed` : `cancelling run ${id}: its worker was told to abort it`, result);
    },
  );

  common(program.command('retry').description('run a failed run again, its attempts reset').argument('<job>').argument('<id>')).action(
    async (job: string, id: string, _options, command: Command) => {
      const session = open(command);
      const result = await session.api().retry(job, id);
      session.print(`retrying run ${id}: it is waiting for a worker`, result);
    },
  );

  common(program.command('delete').description('remove a finished run from the history').argument('<job>').argument('<id>')).action(
    async (job: string, id: string, _options, command: Command) => {
      const session = open(command);
      await session.api().deleteRun(job, id);
      session.print(`deleted run ${id}`, { id, deleted: true });
    },
  );
}

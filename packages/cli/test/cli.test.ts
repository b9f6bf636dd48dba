import { describe, expect, it } from 'vitest';
import { deploymentForThisFile, putSchedule } from '../../../tests/support/deployment.js';
import { freePort } from '../../../tests/support/processes.js';
import { drumline as runCli, type CliResult } from './run-cli.js';

// `drumline` as a child process against the real web, a worker and a scheduler, each its own
// process on real Redis. Runs use `ping`, the smoke-test job that ships (the end-to-end tests use
// it too); schedules are made through the API, so no test depends on the example schedules.
const deployment = deploymentForThisFile('cli', { workers: 1, scheduler: true });
const hour = 3_600_000;

function drumline(...args: string[]): Promise<CliResult> {
  return runCli(args, { DRUMLINE_URL: deployment().url, DRUMLINE_TOKEN: deployment().token });
}

/** Runs it with --json and expects exit 0: the parsed stdout. */
async function drumlineJson<T>(...args: string[]): Promise<T> {
  const result = await drumline(...args, '--json');
  expect(result, result.stderr).toMatchObject({ code: 0 });
  return JSON.parse(result.stdout) as T;
}

describe('help', () => {
  it('`<command> --help` prints the usage of each command and exits 0 without calling the API', async () => {
    const commands = ['jobs', 'enqueue', 'runs', 'run', 'cancel', 'retry', 'delete', 'schedules', 'next', 'pause', 'resume', 'trigger', 'backfill', 'plan'];
    const results = await Promise.all(commands.map((command) => runCli([command, '--help'])));
    for (const [index, result] of results.entries()) {
      const command = commands[index] as string;
      expect(result.code, command).toBe(0);
      expect(result.stdout, command).toMatch(new RegExp(`^Usage: drumline ${command} `));
      expect(result.stdout, command).toContain('--json');
    }
  });

  it('lists the commands and the exit codes', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Commands:[\s\S]*enqueue[\s\S]*plan/);
    expect(result.stdout).toMatch(/Exit codes:[\s\S]*2 {2}no such job, run or schedule/);
  });

  it('exits 1 with a message on stderr for an unknown command, a missing argument, bad JSON or no token', async () => {
    const results = await Promise.all([drumline('frobnicate'), drumline('run', 'ping'), drumline('enqueue', 'ping', '--data', '{'), runCli(['jobs'])]);
    for (const result of results) {
      expect(result.code, result.stderr).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).not.toBe('');
    }
  });
});

describe('runs', () => {
  it('lists the jobs as a table, and as JSON with --json', async () => {
    const table = await drumline('jobs');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME +QUEUE +ATTEMPTS +TIMEOUT +SCHEDULES$/m);
    expect(table.stdout).toMatch(/^ping +default +3 /m);
    expect(await drumlineJson<{ name: string }[]>('jobs')).toContainEqual(expect.objectContaining({ name: 'ping', queue: 'default' }));
  });

  it('enqueues a run, then `run --wait` shows it completed with what it returned, and exits 0', async () => {
    const run = await drumlineJson<{ id: string; name: string }>('enqueue', 'ping', '--data', '{"note":"from the cli"}');
    expect(run.name).toBe('ping');
    const shown = await drumline('run', 'ping', run.id, '--wait', '30s');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^state: +completed$/m);
    expect(shown.stdout).toMatch(/^returned: +\{.*"note":"from the cli"/m);
  });

  it('`run --wait` exits 7 for a run that fails and 8 for one unfinished at the deadline', async () => {
    const failing = await drumlineJson<{ id: string }>('enqueue', 'ping', '--data', '{"failWith":"cli failure"}');
    const failed = await drumline('run', 'ping', failing.id, '--wait', '30s');
    expect(failed.code).toBe(7);
    expect(failed.stdout).toMatch(/^reason: +cli failure$/m);
    const later = await drumlineJson<{ id: string }>('enqueue', 'ping', '--delay', '10m');
    const unfinished = await drumline('run', 'ping', later.id, '--wait', '200ms', '--json');
    expect(unfinished.code).toBe(8);
    expect(JSON.parse(unfinished.stdout)).toMatchObject({ id: later.id, state: 'delayed' });
  });

  it('refuses an invalid payload with exit 3, naming the field on stderr, and enqueues nothing', async () => {
    const result = await drumline('enqueue', 'ping', '--data', '{"sleepMs":-1}', '--job-id', 'cli-invalid');
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('data.sleepMs');
    const json = await drumline('enqueue', 'ping', '--data', '{"sleepMs":-1}', '--json');
    expect(JSON.parse(json.stderr)).toMatchObject({ status: 400, apiCode: 'DRUMLINE_INVALID_PAYLOAD', issues: [expect.objectContaining({ path: 'data.sleepMs' })] });
    expect((await drumline('run', 'ping', 'cli-invalid')).code).toBe(2);
  });

  it('exits 2 for an unknown job or run, 4 for a wrong token and 5 when the API is unreachable', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const [unknownJob, unknownRun, wrongToken, unreachable] = await Promise.all([
      drumline('enqueue', 'no-such-job'),
      drumline('run', 'ping', 'no-such-run'),
      runCli(['jobs'], { DRUMLINE_URL: deployment().url, DRUMLINE_TOKEN: 'not-the-token-at-all' }),
      runCli(['jobs', '--timeout', '1s'], { DRUMLINE_URL: nowhere, DRUMLINE_TOKEN: 't' }),
    ]);
    expect([unknownJob.code, unknownRun.code, wrongToken.code, unreachable.code]).toEqual([2, 2, 4, 5]);
    expect(unreachable.stderr).toMatch(/could not reach/);
  });

  it('takes --url and --token over DRUMLINE_URL and DRUMLINE_TOKEN', async () => {
    const result = await runCli(['jobs', '--url', deployment().url, '--token', deployment().token], { DRUMLINE_URL: 'http://127.0.0.1:9', DRUMLINE_TOKEN: 'wrong-token-wrong-token' });
    expect(result.code, result.stderr).toBe(0);
  });

  it('lists runs by state, cancels one that has not started, and exits 2 when cancelling it again', async () => {
    const run = await drumlineJson<{ id: string }>('enqueue', 'ping', '--delay', '10m', '--job-id', 'cli-cancel-me');
    const listed = await drumline('runs', 'ping', '--state', 'delayed');
    expect(listed.stdout).toMatch(new RegExp(`^${run.id} +delayed `, 'm'));
    const cancelled = await drumline('cancel', 'ping', run.id);
    expect(cancelled).toMatchObject({ code: 0, stdout: expect.stringMatching(/cancelled run cli-cancel-me/) });
    expect((await drumline('cancel', 'ping', run.id)).code).toBe(2);
  });

  it('refuses with exit 3 to retry a completed run or delete an unfinished one; deletes a finished one', async () => {
    const run = await drumlineJson<{ id: string }>('enqueue', 'ping');
    expect((await drumline('run', 'ping', run.id, '--wait', '30s')).code).toBe(0);
    expect((await drumline('retry', 'ping', run.id)).code).toBe(3);
    const later = await drumlineJson<{ id: string }>('enqueue', 'ping', '--delay', '10m');
    expect((await drumline('delete', 'ping', later.id)).code).toBe(3);
    expect((await drumline('delete', 'ping', run.id)).code).toBe(0);
    expect((await drumline('run', 'ping', run.id)).code).toBe(2);
  });

  it('retries a failed run: it runs again', async () => {
    const run = await drumlineJson<{ id: string }>('enqueue', 'ping', '--data', '{"failWith":"again"}');
    expect((await drumline('run', 'ping', run.id, '--wait', '30s')).code).toBe(7);
    expect(await drumlineJson('retry', 'ping', run.id)).toEqual({ id: run.id, state: 'waiting' });
    expect((await drumline('run', 'ping', run.id, '--wait', '30s', '--json')).code).toBe(7);
  });
});

describe('schedules', () => {
  it('lists schedules as a table; pauses and resumes one', async () => {
    await putSchedule(deployment(), 'cli-hourly', { job: 'ping', every: '1h' });
    const listed = await drumline('schedules');
    expect(listed.stdout).toMatch(/^ID +JOB +TIMING +OWNER +STATE +NEXT +LAST$/m);
    expect(listed.stdout).toMatch(/^cli-hourly +ping +every 1h +api +scheduled /m);
    expect((await drumline('pause', 'cli-hourly')).code).toBe(0);
    expect((await drumline('schedules')).stdout).toMatch(/^cli-hourly +ping +every 1h +api +paused /m);
    expect((await drumline('resume', 'cli-hourly')).stdout).toMatch(/^resumed cli-hourly; next run \d{4}-/);
    expect((await drumline('pause', 'no-such-schedule')).code).toBe(2);
  });

  it("`next -n` prints the schedule's next runs, in its zone's wall time too", async () => {
    await putSchedule(deployment(), 'cli-berlin', { job: 'ping', cron: '30 9 * * *', tz: 'Europe/Berlin' });
    const result = await drumline('next', 'cli-berlin', '-n', '7');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(7);
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}\w{3} \d{4}-\d\d-\d\d 09:30 CES?T$/);
    const { nextRuns } = await drumlineJson<{ nextRuns: string[] }>('next', 'cli-berlin', '-n', '7');
    expect(nextRuns.every((run) => new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(run)) === '09:30')).toBe(true);
  });

  it('triggers a run now, and backfills a past range once: again, it skips every tick', async () => {
    await putSchedule(deployment(), 'cli-backfill', { job: 'ping', every: '1h', data: { note: 'cli backfill' } });
    const triggered = await drumlineJson<{ id: string }>('trigger', 'cli-backfill');
    expect((await drumline('run', 'ping', triggered.id, '--wait', '30s')).code).toBe(0);
    const to = new Date(Math.floor(Date.now() / hour) * hour - hour).toISOString();
    const from = new Date(Date.parse(to) - 2 * hour).toISOString();
    const first = await drumline('backfill', 'cli-backfill', '--from', from, '--to', to);
    expect(first).toMatchObject({ code: 0, stdout: 'backfilled cli-backfill: 3 tick(s) in range, 3 enqueued, 0 skipped (already run or enqueued)\n' });
    expect(await drumlineJson('backfill', 'cli-backfill', '--from', from, '--to', to)).toEqual({ ticks: 3, enqueued: 0, skipped: 3 });
    const tooLong = await drumline('backfill', 'cli-backfill', '--from', '1970-01-01T00:00:00Z', '--to', to);
    expect(tooLong.code).toBe(3);
    expect((await drumline('backfill', 'cli-backfill', '--from', from)).code).toBe(1);
  });
});

describe('ticks', () => {
  it("lists a schedule's ticks with their states, and tells a tick's story naming the worker that ran it", async () => {
    await putSchedule(deployment(), 'cli-ticks', { job: 'ping', every: '1s' });
    type Page = { ticks: { tick: string; state: string }[] };
    await expect.poll(async () => (await drumlineJson<Page>('ticks', 'cli-ticks', '-n', '50')).ticks.some((tick) => tick.state === 'ran'), { timeout: 30_000, interval: 500 }).toBe(true);
    const listed = await drumline('ticks', 'cli-ticks', '-n', '50');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^TICK +STATE +LATE +TOOK +ATTEMPTS +REASON\n/);
    expect(listed.stdout).toMatch(/\d+ ran, \d+ failed, \d+ skipped, \d+ missed, \d+ pending in the range\n$/);
    const ran = (await drumlineJson<Page>('ticks', 'cli-ticks', '-n', '50')).ticks.find((tick) => tick.state === 'ran')!;
    const story = await drumline('tick', 'cli-ticks', ran.tick);
    expect(story.code).toBe(0);
    expect(story.stdout).toContain(`worker `);
    expect(story.stdout).toContain(`:${deployment().workers[0]!.pid}: started attempt 1`);
    expect((await drumline('tick', 'cli-ticks', new Date(Date.parse(ran.tick) + 1).toISOString())).code).toBe(2);
    expect((await drumline('tick', 'cli-ticks', 'soon')).code).toBe(1);
    expect((await drumline('ticks', 'cli-ticks', '-n', '0')).code).toBe(1);
  });
});

describe('plan against a deployment the scheduler has reconciled', () => {
  it('reports no changes for the code the scheduler deployed, api-owned schedules kept, and exits 0 with --exit-code', async () => {
    await deployment().apps.find((app) => app.name === 'scheduler')?.waitForLog((log) => typeof log.msg === 'string' && log.msg.startsWith('reconciled schedules with code'));
    await putSchedule(deployment(), 'cli-plan-api', { job: 'ping', every: '1d' });
    const result = await drumline('plan', '--exit-code');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^No changes: the deployed schedules match the code \(\d+ api-owned kept, \d+ unchanged\)\.$/m);
    expect(result.stdout).toMatch(/^= cli-plan-api \(job ping\): made through the API, kept$/m);
  });
});

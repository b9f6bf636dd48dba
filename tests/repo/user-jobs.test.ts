import { Queue } from 'bullmq';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppProcess, freePort, REPO_ROOT } from '../support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';

// packages/jobs belongs to the user: on a copy of the repository, do what the README's "Add a job"
// says (a new file with a schedule, listed in packages/jobs/src/index.ts), delete an example job,
// and the checks a user runs still pass there. Then break a definition the ways users do: every
// app stops with one line naming the job, the schedule and the file.
//
// The framework's own tests run on tests/jobs, not on the examples, so they pass on the copy too:
// the user's change removes the two examples they enqueue most (`send-email`, `cleanup-old-records`).
//
// The copy shares this checkout's installed dependencies (node_modules/.pnpm, linked) and its
// build of core, the test jobs and the apps (copied), and builds only packages/jobs, as a user's
// change would.

let copy: string;
const GOOD_SCHEDULE = `{ id: 'nightly-digest-ops', cron: '0 3 * * *', tz: 'Europe/Berlin', data: { team: 'ops' } }`;

function run(command: string[], options: { allowFailure?: boolean } = {}): { status: number | null; stdout: string; stderr: string } {
  const [bin, ...args] = command as [string, ...string[]];
  const result = spawnSync(process.execPath, [join(copy, bin), ...args], {
    cwd: copy,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', CI: 'true', NO_COLOR: '1' },
    timeout: 120_000,
  });
  if (!options.allowFailure && result.status !== 0) {
    throw new Error(`${command.join(' ')} exited ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`);
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const tsc = (...args: string[]) => run(['node_modules/typescript/bin/tsc', ...args]);
const buildJobs = () => tsc('-p', 'packages/jobs/tsconfig.build.json');
const jobsIndex = () => join(copy, 'packages/jobs/src/index.ts');

/** Rewrites the `jobs` list of packages/jobs/src/index.ts. */
function editJobsList(edit: (names: string[]) => string[]): void {
  const source = readFileSync(jobsIndex(), 'utf8');
  const list = /export const jobs = \[([^\]]*)\] as const;/.exec(source);
  if (!list?.[1]) throw new Error('packages/jobs/src/index.ts has no `export const jobs = [...] as const;`');
  const names = edit(list[1].split(',').map((name) => name.trim()).filter(Boolean));
  writeFileSync(jobsIndex(), source.replace(list[0], `export const jobs = [${names.join(', ')}] as const;`));
}

function writeNewJob(schedule: string): void {
  writeFileSync(
    join(copy, 'packages/jobs/src/nightly-digest.ts'),
    `import { defineJob } from '@drumline/core';
import { z } from 'zod';

/** A job a user adds: one digest per team, every night. */
export const nightlyDigest = defineJob({
  name: 'nightly-digest',
  schema: z.object({ team: z.string().min(1) }),
  schedules: [${schedule}],
  async handler({ team }, { logger }) {
    logger.info({ team }, 'digest sent');
    return { team };
  },
});
`,
  );
}

/** Starts a built app of the copy and returns how it ended, without Redis: definitions come first. */
function startApp(app: string): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [`apps/${app}/dist/main.js`], {
    cwd: copy,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', REDIS_URL: 'redis://127.0.0.1:1', API_TOKEN: 'a-token-long-enough', DASHBOARD_USER: 'u', DASHBOARD_PASSWORD: 'a-password-long-enough' },
    timeout: 30_000,
  });
  return { status: result.status, stderr: result.stderr };
}

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'drumline-user-copy-'));
  // The tracked files, as a fresh clone has them.
  // The files a clone would have: tracked ones, and new ones git does not ignore (a change not yet committed).
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  for (const file of files) {
    try {
      cpSync(join(REPO_ROOT, file), join(copy, file));
    } catch (error) {
      // A file deleted in the working tree but not yet in git.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  // Dependencies: pnpm's links are relative, so copy them; the store they point into is linked.
  mkdirSync(join(copy, 'node_modules'));
  symlinkSync(join(REPO_ROOT, 'node_modules/.pnpm'), join(copy, 'node_modules/.pnpm'));
  for (const entry of readdirSync(join(REPO_ROOT, 'node_modules'))) {
    if (entry === '.pnpm' || entry.startsWith('.vite')) continue;
    cpSync(join(REPO_ROOT, 'node_modules', entry), join(copy, 'node_modules', entry), { recursive: true, verbatimSymlinks: true });
  }
  for (const dir of ['packages/core', 'packages/jobs', 'tests/jobs', 'tests/redis', 'apps/web', 'apps/worker', 'apps/scheduler']) {
    cpSync(join(REPO_ROOT, dir, 'node_modules'), join(copy, dir, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  }
  // The framework is unchanged by a user's jobs: reuse its build.
  for (const dir of ['packages/core', 'tests/jobs', 'tests/redis', 'apps/web', 'apps/worker', 'apps/scheduler']) {
    cpSync(join(REPO_ROOT, dir, 'dist'), join(copy, dir, 'dist'), { recursive: true });
  }

  // The user's change: a new job file with a schedule, listed in index.ts; two example jobs deleted.
  writeNewJob(GOOD_SCHEDULE);
  const index = readFileSync(jobsIndex(), 'utf8');
  writeFileSync(
    jobsIndex(),
    index
      .replace("import { cleanupOldRecords } from './cleanup-old-records.js';\n", '')
      .replace("import { sendEmail } from './send-email.js';\n", '')
      .replace("import { ping } from './ping.js';", "import { nightlyDigest } from './nightly-digest.js';\nimport { ping } from './ping.js';"),
  );
  editJobsList((names) => [...names.filter((name) => name !== 'cleanupOldRecords' && name !== 'sendEmail'), 'nightlyDigest']);
  unlinkSync(join(copy, 'packages/jobs/src/cleanup-old-records.ts'));
  unlinkSync(join(copy, 'packages/jobs/src/send-email.ts'));
});

afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe('a user adds a job and deletes an example job, as the README says', () => {
  it('leaves typecheck, lint and the jobs package tests passing', () => {
    writeNewJob(GOOD_SCHEDULE);
    buildJobs(); // typechecks packages/jobs/src
    // What `pnpm typecheck` checks of the apps, sources and tests, in one compiler run: they take
    // whatever jobs the list holds.
    writeFileSync(
      join(copy, 'tsconfig.apps.json'),
      JSON.stringify({ extends: './packages/tsconfig/base.json', compilerOptions: { noEmit: true }, include: ['apps/*/src', 'apps/*/test'] }),
    );
    tsc('-p', 'tsconfig.apps.json');
    run(['node_modules/eslint/bin/eslint.js', 'packages/jobs']);
    const tests = run(['node_modules/vitest/vitest.mjs', 'run', '--typecheck', 'packages/jobs'], { allowFailure: true });
    expect(tests.status, tests.stdout + tests.stderr).toBe(0);
    expect(tests.stdout + tests.stderr).toMatch(/Type Errors\s+no errors/);
  });

  it("leaves the framework's tests passing: the web's in-process API tests and an end-to-end run of the built apps", () => {
    buildJobs();
    const tests = run(['node_modules/vitest/vitest.mjs', 'run', 'apps/web/test/jobs.test.ts', 'tests/e2e/enqueue-and-run.test.ts'], { allowFailure: true });
    expect(tests.status, tests.stdout + tests.stderr).toBe(0);
    expect(tests.stdout).toMatch(/Test Files\s+2 passed \(2\)/);
  }, 240_000);
});

describe('a mistake in a user definition', () => {
  it('stops every app with one line naming the job, the schedule and the file: a bad cron', () => {
    writeNewJob(`{ id: 'nightly-digest-ops', cron: 'every night', data: { team: 'ops' } }`);
    buildJobs();
    for (const app of ['web', 'worker', 'scheduler']) {
      const { status, stderr } = startApp(app);
      expect(status, stderr).toBe(1);
      const lines = stderr.trimEnd().split('\n');
      expect(lines, stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/invalid job definition: job `nightly-digest`, schedule `nightly-digest-ops`: cron `every night` is invalid/);
      expect(lines[0]).toMatch(/\(in packages\/jobs\/src\/nightly-digest\.ts\)$/);
    }
  });

  it('stops the worker with one line naming the job, the schedule and the file: schedule data that fails the schema', () => {
    writeNewJob(`{ id: 'nightly-digest-ops', cron: '0 3 * * *', data: { team: '' } }`);
    buildJobs();
    const { status, stderr } = startApp('worker');
    expect(status, stderr).toBe(1);
    expect(stderr.trimEnd().split('\n'), stderr).toEqual([
      expect.stringMatching(/^worker: invalid job definition: job `nightly-digest`, schedule `nightly-digest-ops`: its data does not satisfy the job's schema: team: .*\(in packages\/jobs\/src\/nightly-digest\.ts\)$/),
    ]);
  });

  it('stops the scheduler with one line naming the job and both files: a duplicate job name', () => {
    writeNewJob(GOOD_SCHEDULE);
    // Another file defining a job of the same name, as a copy-paste leaves it.
    const ping = readFileSync(join(copy, 'packages/jobs/src/ping.ts'), 'utf8');
    writeFileSync(join(copy, 'packages/jobs/src/ping-copy.ts'), ping.replace('export const ping =', 'export const pingCopy ='));
    const index = readFileSync(jobsIndex(), 'utf8');
    writeFileSync(jobsIndex(), index.replace("import { ping } from './ping.js';", "import { ping } from './ping.js';\nimport { pingCopy } from './ping-copy.js';"));
    editJobsList((names) => [...names, 'pingCopy']);
    buildJobs();
    const { status, stderr } = startApp('scheduler');
    expect(status, stderr).toBe(1);
    expect(stderr.trimEnd().split('\n'), stderr).toEqual([
      'scheduler: invalid job definition: job `ping` is defined twice: job names must be unique (in packages/jobs/src/ping.ts and packages/jobs/src/ping-copy.ts)',
    ]);
  });
});

describe('pnpm dev (start.mjs --watch) on the copy', () => {
  const prefix = uniquePrefix('user-jobs-dev');
  const API_TOKEN = `dev-${randomBytes(16).toString('hex')}`;
  const redis = connectTestRedis();
  let dev: AppProcess | undefined;

  afterAll(async () => {
    if (dev && !dev.exitStatus) {
      process.kill(-dev.pid, 'SIGINT');
      process.kill(-dev.pid, 'SIGINT'); // a second one kills what is left
      await dev.exited;
    }
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('restarts the apps on a change to a job, after the running job has finished, and then runs the changed code', async () => {
    // The copy's jobs as the first test left them: the user's job valid, no duplicate.
    writeNewJob(GOOD_SCHEDULE);
    editJobsList((names) => names.filter((name) => name !== 'pingCopy'));
    writeFileSync(jobsIndex(), readFileSync(jobsIndex(), 'utf8').replace("import { pingCopy } from './ping-copy.js';\n", ''));
    rmSync(join(copy, 'packages/jobs/src/ping-copy.ts'), { force: true });
    buildJobs();

    const port = await freePort();
    const webUrl = `http://127.0.0.1:${port}`;
    const env = {
      PATH: process.env.PATH ?? '',
      REDIS_URL: TEST_REDIS_URL,
      KEY_PREFIX: prefix,
      PORT: String(port),
      WORKER_METRICS_PORT: String(await freePort()),
      SCHEDULER_METRICS_PORT: String(await freePort()),
      LOG_PRETTY: 'false',
      API_TOKEN,
    };
    dev = new AppProcess('dev', spawn(process.execPath, ['scripts/start.mjs', '--watch'], { cwd: copy, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
    await dev.waitForLine(/^start *\| compiled; watching for changes$/, 120_000);
    const readyLines = () => dev?.lines.filter((line) => /^worker *\| .*"worker ready"/.test(line.text)).length ?? 0;
    expect(readyLines()).toBe(1);

    const enqueue = async (sleepMs: number) => {
      const response = await fetch(`${webUrl}/api/jobs/ping`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ data: { sleepMs } }),
      });
      expect(response.status).toBe(202);
      return ((await response.json()) as { id: string }).id;
    };
    const queue = new Queue('default', { connection: redis, prefix });
    try {
      const running = await enqueue(1500);
      await expect.poll(async () => (await queue.getJob(running))?.getState(), { timeout: 20_000, interval: 50 }).toBe('active');

      const ping = join(copy, 'packages/jobs/src/ping.ts');
      writeFileSync(ping, readFileSync(ping, 'utf8').replace('return { pid: process.pid, note,', "return { pid: process.pid, edited: 'yes', note,"));
      await dev.waitForLine(/^start *\| (.+, )?packages\/jobs(, .+)? compiled: restarting the apps/, 60_000);
      await expect.poll(readyLines, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(2);
      const webAnswers = () => fetch(`${webUrl}/healthz`).then((response) => response.status, () => 0);
      await expect.poll(webAnswers, { timeout: 60_000, interval: 200 }).toBe(200);

      const drained = await queue.getJob(running);
      expect(await drained?.getState()).toBe('completed');
      expect(drained?.attemptsMade).toBe(1);
      expect(drained?.returnvalue).not.toHaveProperty('edited');
      // However many restarts the change set off, the new code answers once they are done.
      let changed = '';
      await expect.poll(async () => (changed = await enqueue(0).catch(() => '')), { timeout: 60_000, interval: 200 }).not.toBe('');
      await expect.poll(async () => (await queue.getJob(changed))?.returnvalue as unknown, { timeout: 20_000, interval: 100 }).toMatchObject({ edited: 'yes' });
    } finally {
      await queue.close();
    }
    process.kill(-dev.pid, 'SIGINT');
    expect(await dev.exited, dev.output()).toEqual({ code: 0, signal: null });
  }, 240_000);
});

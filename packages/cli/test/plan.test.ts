import { codeScheduleRecords, createJobRegistry, drumlineKeys, type ScheduleRecord } from '@drumline/core/runtime';
import { Queue } from 'bullmq';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentForThisFile } from '../../../tests/support/deployment.js';
import { connectTestRedis } from '../../../tests/support/redis.js';
import { jobs as jobsToDeploy } from './fixtures/jobs-to-deploy.mjs';
import { drumline as runCli } from './run-cli.js';

// `drumline plan --jobs <fixture>` against the real web, whose Redis holds the schedules of the
// previous deploy as the scheduler's reconciliation wrote them. No worker runs, so pending runs stay.
const deployment = deploymentForThisFile('cli-plan');
const FIXTURE = fileURLToPath(new URL('./fixtures/jobs-to-deploy.mjs', import.meta.url));
const redis = connectTestRedis();
const hour = 3_600_000;
const code = new Map(codeScheduleRecords(createJobRegistry(jobsToDeploy)).map((record) => [record.id, record]));
let deployedJob: { name: string; queue: string };
let pendingRunId = '';

function plan(...args: string[]) {
  return runCli(['plan', '--jobs', FIXTURE, ...args], { DRUMLINE_URL: deployment().url, DRUMLINE_TOKEN: deployment().token });
}

async function store(...records: ScheduleRecord[]): Promise<void> {
  const keys = drumlineKeys(deployment().prefix);
  for (const record of records) await redis.hset(keys.schedules, record.id, JSON.stringify(record));
}

function codeRecord(id: string): ScheduleRecord {
  const record = code.get(id);
  if (!record) throw new Error(`the fixture declares no schedule ${id}`);
  return record;
}

beforeAll(async () => {
  // A schedule the previous deploy had and this one drops needs a job the deployment defines, to list its runs.
  const response = await fetch(`${deployment().url}/api/jobs`, { headers: { authorization: `Bearer ${deployment().token}` } });
  const [first] = (await response.json()) as { name: string; queue: string }[];
  if (!first) throw new Error('the deployment defines no job');
  deployedJob = first;
  const daily = codeRecord('report-daily');
  await store(
    { ...daily, timing: { kind: 'cron', cron: '0 8 * * *', tz: 'Europe/Berlin' }, misfire: 'skip' },
    codeRecord('report-weekly'),
    { id: 'retired-sweep', job: deployedJob.name, timing: { kind: 'every', everyMs: hour }, data: {}, misfire: 'once', misfireCap: 100, misfireGraceMs: null, overlap: 'allow', owner: 'code' },
    { id: 'ops-adhoc', job: 'report', timing: { kind: 'every', everyMs: 2 * hour }, data: { team: 'ops' }, misfire: 'once', misfireCap: 100, misfireGraceMs: null, overlap: 'allow', owner: 'api' },
  );
  // A run the leader added ahead for retired-sweep's next tick, as it does within its lookahead.
  const tick = (Math.floor(Date.now() / hour) + 1) * hour;
  pendingRunId = `retired-sweep@${tick}`;
  const queue = new Queue(deployedJob.queue, { connection: redis, prefix: deployment().prefix });
  await queue.add(deployedJob.name, {}, { jobId: pendingRunId, delay: tick - Date.now() });
  await queue.close();
});

afterAll(async () => {
  await redis.quit();
});

describe('drumline plan', () => {
  it('prints what a deploy would add, change, remove with its pending runs, and keep, and exits 0', async () => {
    const result = await plan();
    expect(result.code, result.stderr).toBe(0);
    const out = result.stdout;
    expect(out).toMatch(/^Plan: 1 to add, 1 to change, 1 to remove, 1 api-owned kept, 1 unchanged\.$/m);
    expect(out).toMatch(/^\+ sweep-hourly \(job sweep\): every 1h$/m);
    expect(out).toMatch(/^~ report-daily \(job report\)$/m);
    expect(out).toContain('    timing: cron 0 8 * * * (Europe/Berlin) -> cron 0 9 * * * (Europe/Berlin)\n');
    expect(out).toContain('    misfire: "skip" -> "once"\n    its pending runs are withdrawn and made again\n');
    expect(out).toMatch(new RegExp(`^- retired-sweep \\(job ${deployedJob.name}\\): every 1h\\n {4}removed, its 1 pending run\\(s\\) withdrawn: ${pendingRunId}$`, 'm'));
    expect(out).toMatch(/^= ops-adhoc \(job report\): made through the API, kept$/m);
    expect(out).not.toContain('report-weekly');
  });

  it("gives the next runs of a changed schedule as the code will run it: 09:00 in Berlin, each day", async () => {
    const { changed } = JSON.parse((await plan('--json')).stdout) as { changed: { id: string; nextRuns: string[] }[] };
    const daily = changed.find((entry) => entry.id === 'report-daily');
    expect(daily?.nextRuns).toHaveLength(5);
    const berlin = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    for (const run of daily?.nextRuns ?? []) expect(berlin.format(new Date(run))).toBe('09:00');
    const gaps = (daily?.nextRuns ?? []).map(Date.parse).slice(1).map((run, index) => run - Date.parse(daily?.nextRuns[index] ?? ''));
    for (const gap of gaps) expect([23 * hour, 24 * hour, 25 * hour]).toContain(gap);
    expect(Date.parse(daily?.nextRuns[0] ?? '')).toBeGreaterThan(Date.now() - 60_000);
  });

  it('with --exit-code exits 6 while the deploy would change schedules, and --json says so', async () => {
    const result = await plan('--exit-code', '--json');
    expect(result.code).toBe(6);
    expect(JSON.parse(result.stdout)).toMatchObject({
      hasChanges: true,
      added: [expect.objectContaining({ id: 'sweep-hourly' })],
      changed: [expect.objectContaining({ id: 'report-daily', remade: true, takesOver: false })],
      removed: [{ id: 'retired-sweep', job: deployedJob.name, timing: 'every 1h', pendingRuns: [pendingRunId] }],
      kept: [{ id: 'ops-adhoc', job: 'report' }],
      unchanged: 1,
    });
  });

  it('says code takes over an api-owned schedule it now declares, and that a policy change keeps pending runs', async () => {
    await store({ ...codeRecord('sweep-hourly'), owner: 'api', overlap: 'allow' });
    const { stdout } = await plan();
    expect(stdout).toContain('~ sweep-hourly (job sweep): made through the API, code takes it over\n    overlap: "allow" -> "skip"\n    owner: "api" -> "code"\n    its pending runs stay\n');
  });

  it('lists a stored schedule the API cannot show as broken, replaced by the deploy when code declares it', async () => {
    await redis.hset(drumlineKeys(deployment().prefix).schedules, 'sweep-hourly', '{"id":"sweep-hourly", cut short');
    const result = await plan('--exit-code');
    expect(result.code).toBe(6);
    expect(result.stdout).toMatch(/^Plan: .*, 1 unreadable\.$/m);
    expect(result.stdout).toMatch(/^! sweep-hourly: stored but unreadable \(.+\); the deploy replaces it with the code$/m);
    expect(result.stdout).not.toMatch(/^\+ sweep-hourly/m);
  });

  it('once the deployment matches the code, reports no changes and exits 0 with --exit-code', async () => {
    const keys = drumlineKeys(deployment().prefix);
    await store(...code.values());
    await redis.hdel(keys.schedules, 'retired-sweep');
    const result = await plan('--exit-code');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^No changes: the deployed schedules match the code \(1 api-owned kept, 3 unchanged\)\.$/m);
  });

  it('exits 1 naming the module when --jobs exports no jobs list', async () => {
    const result = await runCli(['plan', '--jobs', fileURLToPath(new URL('./run-cli.ts', import.meta.url))], { DRUMLINE_URL: deployment().url, DRUMLINE_TOKEN: deployment().token });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/run-cli\.ts/);
  });
});

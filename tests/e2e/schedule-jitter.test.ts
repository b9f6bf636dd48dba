import { jitterOffsetMs, parseScheduledRunId } from '@drumline/core/runtime';
import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { deploymentForThisFile, putSchedule } from '../support/deployment.js';
import { connectTestRedis } from '../support/redis.js';

// A schedule's `jitterMs` on the built apps: a scheduler and two workers, a schedule through the API.
const deployment = deploymentForThisFile('e2e-schedule-jitter', { workers: 2, scheduler: true });
const redis = connectTestRedis();

afterAll(async () => {
  await redis.quit();
});

const EVERY_MS = 3000;
// More than the misfire threshold (5 s): a run due 5+ s after its tick is late by design, not missed.
const JITTER_MS = 12_000;

describe('a schedule with jitterMs', () => {
  it('runs each tick once, no sooner than its tick plus its offset, none dropped as missed however far the offset moves it', async () => {
    const { prefix } = deployment();
    const queue = new Queue('default', { connection: redis, prefix });
    try {
      await putSchedule(deployment(), 'jittered', { job: 'ping', every: EVERY_MS, jitterMs: JITTER_MS });
      const createdAt = Date.now();
      // Every tick from the first one after creation until some time ago has had time to be due.
      const settled = () => Date.now() - JITTER_MS - 2000;
      await expect.poll(async () => (await queue.getCompleted(0, -1)).filter((run) => run.id?.startsWith('jittered@')).length, { timeout: 60_000, interval: 500 }).toBeGreaterThanOrEqual(6);
      const runs = (await queue.getCompleted(0, -1)).filter((run) => run.id?.startsWith('jittered@'));
      const ticks = new Map<number, number>();
      for (const run of runs) {
        const tick = parseScheduledRunId(run.id)?.scheduledFor.getTime() as number;
        ticks.set(tick, (ticks.get(tick) ?? 0) + 1);
        const startedAt = Date.parse((run.returnvalue as { at: string }).at);
        expect(startedAt, run.id).toBeGreaterThanOrEqual(tick + jitterOffsetMs('jittered', tick, JITTER_MS));
      }
      expect([...ticks.values()].every((count) => count === 1)).toBe(true);
      // The offsets differ from tick to tick: the runs do not keep the ticks' spacing.
      const offsets = [...ticks.keys()].map((tick) => jitterOffsetMs('jittered', tick, JITTER_MS));
      expect(new Set(offsets).size).toBeGreaterThan(1);
      // No tick in between is missing: every one from the first run's to one that is surely due ran.
      const sorted = [...ticks.keys()].sort((a, b) => a - b);
      const first = sorted[0] as number;
      expect(first).toBeGreaterThanOrEqual(createdAt - EVERY_MS);
      for (let tick = first; tick <= settled(); tick += EVERY_MS) {
        if (tick + jitterOffsetMs('jittered', tick, JITTER_MS) < settled()) expect(ticks.has(tick), `tick ${new Date(tick).toISOString()}`).toBe(true);
      }
      const skipped = runs.filter((run) => (run.returnvalue as { skipped?: string }).skipped !== undefined);
      expect(skipped).toEqual([]);
    } finally {
      await queue.close();
    }
  }, 90_000);
});

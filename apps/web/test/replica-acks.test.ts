import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicatedRedis } from '@drumline/test-redis';
import { startWeb, withToken, type TestWeb } from './web-harness.js';

// REDIS_WAIT_REPLICAS on the web, against a real primary and replica: a 2xx to a write means the
// replica holds it, so a failover to that replica cannot lose an acknowledged run.
let topology: ReplicatedRedis;
let web: TestWeb;

beforeAll(async () => {
  topology = await ReplicatedRedis.start({ replicas: 1 });
  web = await startWeb({ prefix: 'replica-acks', redisUrl: topology.primary.url, env: { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '1500' } });
});

afterAll(async () => {
  topology?.replicas[0]?.resume();
  await web?.app.close();
  await topology?.destroy();
});

const enqueue = (jobId: string) => web.app.inject({ method: 'POST', url: '/api/jobs/ping', headers: withToken, payload: { data: {}, opts: { jobId } } });

describe('writes the replicas must confirm', () => {
  it('answers 202 for an enqueue once the replica holds the run', async () => {
    const response = await enqueue('confirmed-run');
    expect(response.statusCode).toBe(202);
    const held = await topology.replicas[0]!.ask((client) => client.exists('replica-acks:default:confirmed-run'));
    expect(held).toBe(1);
  });

  it('answers 503 naming REDIS_WAIT_REPLICAS while the replica is stalled, and a retry with the same jobId adds nothing twice', async () => {
    topology.replicas[0]!.pause();
    let refused;
    try {
      refused = await enqueue('unconfirmed-run');
    } finally {
      topology.replicas[0]!.resume();
    }
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json()).toMatchObject({ error: 'DRUMLINE_NOT_REPLICATED', message: expect.stringContaining('REDIS_WAIT_REPLICAS') });
    await expect.poll(async () => (await enqueue('unconfirmed-run')).statusCode, { timeout: 10_000 }).toBe(200);
    expect((await enqueue('unconfirmed-run')).json()).toMatchObject({ id: 'unconfirmed-run', duplicate: true });
    expect(await web.queueOf('ping').getJobCountByTypes('waiting', 'delayed', 'prioritized')).toBe(2);
  });

  it('reads never wait for the replicas: a stalled replica does not fail a GET', async () => {
    topology.replicas[0]!.pause();
    try {
      const response = await web.app.inject({ method: 'GET', url: '/api/jobs', headers: withToken });
      expect(response.statusCode).toBe(200);
    } finally {
      topology.replicas[0]!.resume();
    }
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OTLP_DEFAULT_PORT, OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { freePort, startApp, stopApps, type AppProcess } from '../support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';

// The built web, worker and scheduler as separate processes, exporting their spans over OTLP/HTTP
// (JSON) to a receiver this test runs on a loopback port; then the same apps without any OTEL_*
// variable, which must export nothing. The chains are checked by ids: same trace, each parent span
// id the span before it.

const API_TOKEN = `e2e-${randomBytes(16).toString('hex')}`;
const dashboard = { DASHBOARD_USER: 'e2e-admin', DASHBOARD_PASSWORD: 'e2e-password-long-enough' };
const SERVER = 2;
const PRODUCER = 4;
const CONSUMER = 5;
const ERROR = 2;

interface Deployment {
  apps: AppProcess[];
  baseUrl: string;
  prefix: string;
}

/** Web, worker and scheduler under a prefix of their own, with `env` on top; resolves once the web is ready. */
async function deploy(name: string, env: Record<string, string>): Promise<Deployment> {
  const prefix = uniquePrefix(name);
  const port = await freePort();
  const common = { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, LOG_LEVEL: 'info', RELEASE: 'e2e', ...env };
  const worker = startApp('worker', { env: { ...common, WORKER_CONCURRENCY: '5' } });
  const scheduler = startApp('scheduler', { env: { ...common, SCHEDULER_POLL_MS: '100' } });
  const web = startApp('web', { env: { ...common, ...dashboard, PORT: String(port), HOST: '127.0.0.1', API_TOKEN } });
  const baseUrl = `http://127.0.0.1:${port}`;
  await worker.waitForLog((log) => log.msg === 'worker ready', 30_000);
  await web.waitForHttp(`${baseUrl}/readyz`, 60_000);
  return { apps: [web, worker, scheduler], baseUrl, prefix };
}

async function undeploy(deployment: Deployment | undefined): Promise<void> {
  if (!deployment) return;
  await stopApps(deployment.apps);
  const redis = connectTestRedis();
  await deleteKeys(redis, deployment.prefix);
  await redis.quit();
}

async function api<T>(baseUrl: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function waitForState(baseUrl: string, runId: string, state: string): Promise<void> {
  await expect
    .poll(async () => (await api<{ state: string }>(baseUrl, 'GET', `/api/jobs/ping/runs/${encodeURIComponent(runId)}`)).body.state, { timeout: 30_000, interval: 100 })
    .toBe(state);
}

describe('with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
  let receiver: OtlpReceiver;
  let deployment: Deployment | undefined;
  const spans = (match: (span: ReceivedSpan) => boolean) => receiver.spans.filter(match);
  /** The one span that matches, once it has arrived. */
  async function theSpan(what: string, match: (span: ReceivedSpan) => boolean): Promise<ReceivedSpan> {
    await expect.poll(() => spans(match).length, { timeout: 30_000, interval: 100, message: `${what} never arrived` }).toBeGreaterThan(0);
    const found = spans(match);
    expect(found, what).toHaveLength(1);
    return found[0] as ReceivedSpan;
  }

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    deployment = await deploy('e2e-tracing-on', {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
  });

  afterAll(async () => {
    await undeploy(deployment);
    await receiver.close();
  });

  it("chains the caller's trace, the web's POST span, its enqueue span and the worker's run span: one trace, each the parent of the next", async () => {
    const { baseUrl } = deployment as Deployment;
    const callerTrace = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const { status, body } = await api<{ id: string }>(baseUrl, 'POST', '/api/jobs/ping', { data: { note: 'traced' } }, { traceparent: `00-${callerTrace}-${callerSpan}-01` });
    expect(status).toBe(202);
    await waitForState(baseUrl, body.id, 'completed');

    const request = await theSpan('the POST span', (span) => span.name === 'POST /api/jobs/ping' && span.traceId === callerTrace);
    expect(request).toMatchObject({ service: 'drumline-web', kind: SERVER, parentSpanId: callerSpan });
    expect(request.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/api/jobs/ping', 'http.response.status_code': 202 });

    const enqueue = await theSpan('the enqueue span', (span) => span.name === 'enqueue ping' && span.parentSpanId === request.spanId);
    expect(enqueue).toMatchObject({ service: 'drumline-web', kind: PRODUCER, traceId: callerTrace });
    expect(enqueue.attributes).toMatchObject({ 'messaging.destination.name': 'default', 'messaging.message.id': body.id, 'drumline.job.name': 'ping' });

    const run = await theSpan('the run span', (span) => span.name === 'run ping' && span.parentSpanId === enqueue.spanId);
    expect(run).toMatchObject({ service: 'drumline-worker', kind: CONSUMER, traceId: callerTrace, status: 0 });
    expect(run.attributes).toMatchObject({
      'messaging.destination.name': 'default',
      'messaging.message.id': body.id,
      'drumline.job.name': 'ping',
      'drumline.run.attempt': 1,
      'drumline.run.outcome': 'completed',
    });
  });

  it('makes each attempt of a run that fails once a run span of its own under the same enqueue span: the first failed with its exception, the retry completed', async () => {
    const { baseUrl } = deployment as Deployment;
    const { body } = await api<{ id: string }>(baseUrl, 'POST', '/api/jobs/ping', { data: { failAttempts: 1 } });
    await waitForState(baseUrl, body.id, 'completed');

    const enqueue = await theSpan('the enqueue span', (span) => span.name === 'enqueue ping' && span.attributes['messaging.message.id'] === body.id);
    const request = await theSpan('the POST span', (span) => span.spanId === enqueue.parentSpanId);
    expect(request.name).toBe('POST /api/jobs/ping');
    await expect.poll(() => spans((span) => span.name === 'run ping' && span.attributes['messaging.message.id'] === body.id).length, { timeout: 30_000, interval: 100 }).toBe(2);
    const attempts = spans((span) => span.name === 'run ping' && span.attributes['messaging.message.id'] === body.id).sort(
      (a, b) => Number(a.attributes['drumline.run.attempt']) - Number(b.attributes['drumline.run.attempt']),
    );
    for (const attempt of attempts) expect(attempt).toMatchObject({ traceId: enqueue.traceId, parentSpanId: enqueue.spanId });
    expect(attempts.map((attempt) => attempt.attributes['drumline.run.attempt'])).toEqual([1, 2]);
    expect(attempts[0]).toMatchObject({ status: ERROR, events: ['exception'], attributes: expect.objectContaining({ 'drumline.run.outcome': 'retried' }) });
    expect(attempts[1]).toMatchObject({ status: 0, attributes: expect.objectContaining({ 'drumline.run.outcome': 'completed' }) });
  });

  it("makes a scheduled run's span a child of the leader's materialize span for its tick, linked to the pass that added it", async () => {
    const { baseUrl } = deployment as Deployment;
    const scheduleId = 'e2e-traced-1s';
    expect((await api(baseUrl, 'PUT', `/api/schedules/${scheduleId}`, { job: 'ping', every: '1s', data: { note: 'scheduled' } })).status).toBe(201);
    try {
      await expect.poll(() => spans((span) => span.name === 'run ping' && span.attributes['drumline.schedule.id'] === scheduleId).length, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);
      const run = spans((span) => span.name === 'run ping' && span.attributes['drumline.schedule.id'] === scheduleId)[0] as ReceivedSpan;
      const tick = run.attributes['drumline.schedule.tick'];
      expect(run.attributes['messaging.message.id']).toBe(`${scheduleId}@${String(tick)}`);

      const materialize = await theSpan('the materialize span', (span) => span.spanId === run.parentSpanId);
      expect(materialize).toMatchObject({ service: 'drumline-scheduler', name: 'materialize ping', kind: PRODUCER, traceId: run.traceId, parentSpanId: '' });
      expect(materialize.attributes).toMatchObject({ 'drumline.schedule.id': scheduleId, 'drumline.schedule.tick': tick, 'drumline.leader.term': 1, 'messaging.message.id': run.attributes['messaging.message.id'] });

      expect(materialize.links).toHaveLength(1);
      const pass = await theSpan('the pass span', (span) => span.spanId === materialize.links[0]?.spanId);
      expect(pass).toMatchObject({ service: 'drumline-scheduler', name: 'materialization pass', traceId: materialize.links[0]?.traceId });
      expect(pass.attributes['drumline.leader.term']).toBe(1);
      expect(pass.attributes['messaging.batch.message_count']).toBeGreaterThanOrEqual(1);
    } finally {
      await api(baseUrl, 'DELETE', `/api/schedules/${scheduleId}`);
    }
  });
});

describe('without OTEL_* variables', () => {
  it('starts the apps as before, runs a job, and exports nothing, not even at shutdown', async () => {
    // Where an SDK left to its defaults would send: a process that started one anyway is caught here.
    const receiver = await OtlpReceiver.start(OTLP_DEFAULT_PORT);
    let deployment: Deployment | undefined;
    try {
      deployment = await deploy('e2e-tracing-off', {});
      const { body } = await api<{ id: string }>(deployment.baseUrl, 'POST', '/api/jobs/ping', { data: { note: 'untraced' } });
      await waitForState(deployment.baseUrl, body.id, 'completed');
      await stopApps(deployment.apps);
      // A process with tracing on exports its last spans before it exits: after the exits, nothing can still come.
      for (const app of deployment.apps) {
        expect(app.exitStatus, app.name).toEqual({ code: 0, signal: null });
        expect(app.logs().filter((log) => log.msg === 'exporting traces')).toEqual([]);
      }
      expect(receiver.requests).toEqual([]);
    } finally {
      await undeploy(deployment);
      await receiver.close();
    }
  });

  it('exports nothing with OTEL_TRACES_EXPORTER=none, whatever endpoint is set', async () => {
    const receiver = await OtlpReceiver.start();
    const web = await startWeb(receiver, { OTEL_TRACES_EXPORTER: 'none' });
    try {
      expect((await api(web.baseUrl, 'GET', '/api/jobs')).status).toBe(200);
      expect(await web.app.stop()).toEqual({ code: 0, signal: null });
      expect(receiver.requests).toEqual([]);
    } finally {
      await web.close();
      await receiver.close();
    }
  });

  it('exports protobuf, the OTLP default, when only the endpoint is set', async () => {
    const receiver = await OtlpReceiver.start();
    const web = await startWeb(receiver, {});
    try {
      expect((await api(web.baseUrl, 'GET', '/api/jobs')).status).toBe(200);
      expect(await web.app.stop()).toEqual({ code: 0, signal: null });
      expect(receiver.requests.length).toBeGreaterThan(0);
      expect(receiver.requests.every((request) => request.path === '/v1/traces' && request.contentType === 'application/x-protobuf' && request.bytes > 0)).toBe(true);
    } finally {
      await web.close();
      await receiver.close();
    }
  });
});

/** The web alone (enough for requests that read nothing from Redis) with OTEL_EXPORTER_OTLP_ENDPOINT at `receiver`, and `env`. */
async function startWeb(receiver: OtlpReceiver, env: Record<string, string>) {
  const port = await freePort();
  const prefix = uniquePrefix('e2e-tracing-web');
  const app = startApp('web', {
    env: { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, ...dashboard, PORT: String(port), HOST: '127.0.0.1', API_TOKEN, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, ...env },
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await app.waitForHttp(`${baseUrl}/healthz`, 30_000);
  return {
    app,
    baseUrl,
    async close() {
      await stopApps([app]);
      const redis = connectTestRedis();
      await deleteKeys(redis, prefix);
      await redis.quit();
    },
  };
}

describe('a malformed OTEL_* variable', () => {
  it.each(['web', 'worker', 'scheduler'])('stops the %s at start-up with a message naming it', async (name) => {
    const app = startApp(name, {
      env: { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: uniquePrefix('e2e-tracing-bad'), ...dashboard, API_TOKEN, OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' },
    });
    expect(await app.exited).toEqual({ code: 1, signal: null });
    expect(app.output()).toContain('OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL');
  });
});

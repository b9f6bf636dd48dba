import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadWebhookUrl, WebhookReceiver } from '../../../tests/support/webhook-receiver.js';
import { AlertWebhook, runLink, type Alert } from './alert-webhook.js';
import { createLogger } from './logger.js';
import { createAlertMetrics, createMetricsRegistry } from './metrics.js';

const logger = createLogger({ app: 'alert-test', level: 'silent' });
let receiver: WebhookReceiver<Alert>;
let url: string;

beforeAll(async () => {
  receiver = await WebhookReceiver.start<Alert>();
  url = receiver.url;
});
afterAll(() => receiver?.close());

const failure = {
  kind: 'run-failed' as const,
  job: 'ping',
  queue: 'default',
  runId: 'nightly@1700000000000',
  schedule: 'nightly',
  tick: '2023-11-14T22:13:20.000Z',
  reason: 'boom',
  attempts: 3,
};

describe('AlertWebhook', () => {
  it('posts the alert as JSON with a link to the run in the dashboard', async () => {
    receiver.received.length = 0;
    const webhook = new AlertWebhook({ url, publicUrl: 'https://jobs.example.com/', logger });
    await webhook.send(failure);
    expect(receiver.received).toEqual([
      {
        kind: 'run-failed',
        job: 'ping',
        runId: 'nightly@1700000000000',
        schedule: 'nightly',
        tick: '2023-11-14T22:13:20.000Z',
        reason: 'boom',
        attempts: 3,
        link: 'https://jobs.example.com/admin/queues/queue/default/nightly%401700000000000',
        text: expect.stringContaining('run nightly@1700000000000 of ping failed after 3 attempt(s): boom'),
        at: expect.any(String),
      },
    ]);
  });

  it('retries a webhook answering 503 and counts the alert sent once it answers 200', async () => {
    receiver.received.length = 0;
    receiver.script = [503, 503];
    const registry = createMetricsRegistry('test');
    const webhook = new AlertWebhook({ url, publicUrl: undefined, logger, counter: createAlertMetrics(registry), backoffMs: 10 });
    await webhook.send(failure);
    expect(receiver.received).toHaveLength(3);
    expect(receiver.received[2]?.link).toBeNull();
    expect(await registry.metrics()).toContain('drumline_alerts_total{kind="run-failed",result="sent",app="test"} 1');
  });

  it('never rejects when the webhook is unreachable, and counts the alert failed', async () => {
    const deadUrl = await deadWebhookUrl();
    const registry = createMetricsRegistry('test');
    const webhook = new AlertWebhook({ url: deadUrl, publicUrl: undefined, logger, counter: createAlertMetrics(registry), backoffMs: 10 });
    await expect(webhook.send(failure)).resolves.toBeUndefined();
    expect(await registry.metrics()).toContain('drumline_alerts_total{kind="run-failed",result="failed",app="test"} 1');
  });

  it('does not repeat a request the webhook refuses with 400', async () => {
    receiver.received.length = 0;
    receiver.script = [400];
    const webhook = new AlertWebhook({ url, publicUrl: undefined, logger, backoffMs: 10 });
    await webhook.send(failure);
    expect(receiver.received).toHaveLength(1);
  });
});

/** A webhook that answers each request with `answer`, noting when requests came and when the sender gave up on one. */
async function slowWebhook(answer: (request: IncomingMessage, response: ServerResponse, index: number) => void) {
  const arrivals: number[] = [];
  const abandoned: number[] = [];
  const server = createServer((request, response) => {
    const index = arrivals.push(Date.now()) - 1;
    request.resume();
    response.on('close', () => {
      if (!response.writableEnded) abandoned[index] = Date.now();
    });
    answer(request, response, index);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    arrivals,
    abandoned,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('AlertWebhook, to the letter', () => {
  it("posts JSON with a content-type saying so, and a one-line text for each kind", async () => {
    const bodies: { contentType: string | undefined; text: string }[] = [];
    const hook = await slowWebhook((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        bodies.push({ contentType: request.headers['content-type'], text: (JSON.parse(body) as Alert).text });
        response.writeHead(200).end();
      });
    });
    const webhook = new AlertWebhook({ url: hook.url, publicUrl: undefined, logger });
    await webhook.send(failure);
    await webhook.send({ kind: 'ticks-missed', job: 'ping', runId: null, schedule: 'nightly', tick: failure.tick, reason: '3 tick(s) dropped', attempts: null });
    await webhook.send({ kind: 'schedule-overdue', job: 'ping', runId: 'nightly@1', schedule: 'nightly', tick: failure.tick, reason: 'not started', attempts: null });
    hook.close();
    expect(bodies).toEqual([
      { contentType: 'application/json', text: 'drumline: run nightly@1700000000000 of ping failed after 3 attempt(s): boom' },
      { contentType: 'application/json', text: 'drumline: schedule nightly (ping) missed ticks: 3 tick(s) dropped' },
      { contentType: 'application/json', text: 'drumline: schedule nightly (ping) is overdue: not started' },
    ]);
  });

  it('without a URL only logs: nothing is posted and nothing counted', async () => {
    const registry = createMetricsRegistry('test');
    const webhook = new AlertWebhook({ url: undefined, publicUrl: undefined, logger, counter: createAlertMetrics(registry), backoffMs: 10 });
    await webhook.send(failure);
    await webhook.flush();
    expect(await registry.metrics()).not.toMatch(/drumline_alerts_total\{/);
  });

  it('retries 408, 429 and 5xx answers, but not another 4xx', async () => {
    for (const [status, requests] of [[408, 2], [429, 2], [500, 2], [503, 2], [404, 1], [499, 1]] as const) {
      const hook = await slowWebhook((_request, response, index) => response.writeHead(index === 0 ? status : 200).end());
      await new AlertWebhook({ url: hook.url, publicUrl: undefined, logger, backoffMs: 10 }).send(failure);
      hook.close();
      expect({ status, requests: hook.arrivals.length }).toEqual({ status, requests });
    }
  });

  it('counts a 204 answer, which has no body, as sent at the first try', async () => {
    const hook = await slowWebhook((_request, response) => response.writeHead(204).end());
    const registry = createMetricsRegistry('test');
    await new AlertWebhook({ url: hook.url, publicUrl: undefined, logger, counter: createAlertMetrics(registry), backoffMs: 10 }).send(failure);
    hook.close();
    expect(hook.arrivals).toHaveLength(1);
    expect(await registry.metrics()).toContain('drumline_alerts_total{kind="run-failed",result="sent",app="test"} 1');
  });

  it('posts the first try at once: the backoff comes only before a retry', async () => {
    const hook = await slowWebhook((_request, response) => response.writeHead(200).end());
    // A backoff this long before the first try would outlast the test.
    await new AlertWebhook({ url: hook.url, publicUrl: undefined, logger, backoffMs: 600_000 }).send(failure);
    hook.close();
    expect(hook.arrivals).toHaveLength(1);
  });

  it('flush waits for the alerts still being delivered, and no longer than it is told', async () => {
    let answer: (() => void) | undefined;
    const hook = await slowWebhook((_request, response) => {
      answer = () => response.writeHead(200).end();
    });
    const registry = createMetricsRegistry('test');
    const webhook = new AlertWebhook({ url: hook.url, publicUrl: undefined, logger, counter: createAlertMetrics(registry) });
    void webhook.send(failure);
    await expect.poll(() => answer, { timeout: 10_000, interval: 10 }).toBeDefined();
    // Told to wait 10 ms, flush gives up on the delivery still in flight.
    await webhook.flush(10);
    expect(await registry.metrics()).not.toContain('result="sent"');
    answer?.();
    await webhook.flush(60_000);
    expect(await registry.metrics()).toContain('drumline_alerts_total{kind="run-failed",result="sent",app="test"} 1');
    hook.close();
  });
});

describe('AlertWebhook defaults (README: "tried twice more (after 0.5 s, then 1 s)", "takes more than 5 s")', () => {
  it('tries a failing webhook three times in all, waiting at least 0.5 s and then 1 s between, and then counts the alert failed', async () => {
    const hook = await slowWebhook((_request, response) => response.writeHead(503).end());
    const registry = createMetricsRegistry('test');
    const webhook = new AlertWebhook({ url: hook.url, publicUrl: undefined, logger, counter: createAlertMetrics(registry) });
    await webhook.send(failure);
    hook.close();
    expect(hook.arrivals).toHaveLength(3);
    const [first, second, third] = hook.arrivals as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(500);
    expect(third - second).toBeGreaterThanOrEqual(1_000);
    expect(await registry.metrics()).toContain('drumline_alerts_total{kind="run-failed",result="failed",app="test"} 1');
  });

  it('gives up on an attempt that has not answered after 5 s and tries again', async () => {
    // The first request is never answered; the next ones are at once.
    const hook = await slowWebhook((_request, response, index) => {
      if (index > 0) response.writeHead(200).end();
    });
    const registry = createMetricsRegistry('test');
    const webhook = new AlertWebhook({ url: hook.url, publicUrl: undefined, logger, counter: createAlertMetrics(registry) });
    const sent = webhook.send(failure);
    // Far more than 5 s, far less than a minute: a timeout of either size would miss this.
    await expect.poll(() => hook.abandoned[0], { timeout: 20_000, interval: 50 }).toBeDefined();
    expect((hook.abandoned[0] as number) - (hook.arrivals[0] as number)).toBeGreaterThanOrEqual(4_950);
    await sent;
    hook.close();
    expect(hook.arrivals).toHaveLength(2);
    expect(await registry.metrics()).toContain('drumline_alerts_total{kind="run-failed",result="sent",app="test"} 1');
  });
});

describe('runLink', () => {
  it("is Bull Board's page of the run, or null without PUBLIC_URL or a run", () => {
    expect(runLink('http://localhost:3000', 'email', 'welcome 42')).toBe('http://localhost:3000/admin/queues/queue/email/welcome%2042');
    expect(runLink('https://jobs.example.com//', 'email', '1')).toBe('https://jobs.example.com/admin/queues/queue/email/1');
    expect(runLink(undefined, 'email', '1')).toBeNull();
    expect(runLink('http://localhost:3000', undefined, '1')).toBeNull();
    expect(runLink('http://localhost:3000', 'email', null)).toBeNull();
  });
});

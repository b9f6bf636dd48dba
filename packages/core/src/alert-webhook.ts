import { setTimeout as sleep } from 'node:timers/promises';
import type { Counter } from 'prom-client';
import type { Logger } from './logger.js';

/** Why an alert was raised. */
export type AlertKind =
  /** A run failed and has no attempt left. */
  | 'run-failed'
  /** A schedule's misfire policy dropped ticks. */
  | 'ticks-missed'
  /** Dead-man's switch: a tick's run had not started SCHEDULE_OVERDUE_MS after the tick. */
  | 'schedule-overdue'
  /** The time engine found no next tick for a schedule that should have one: a bug, never silent. */
  | 'schedule-stalled';

/** The JSON document POSTed to ALERT_WEBHOOK_URL. Fields that do not apply to a kind are null. */
export interface Alert {
  kind: AlertKind;
  job: string;
  /** The BullMQ job id of the run. */
  runId: string | null;
  schedule: string | null;
  /** The nominal tick concerned (ISO), for scheduled runs and schedule alerts. */
  tick: string | null;
  reason: string;
  /** Attempts made, for `run-failed`. */
  attempts: number | null;
  /** The run's page in the dashboard, when PUBLIC_URL is set and there is a run. */
  link: string | null;
  /** One line for chat webhooks (Slack and Mattermost show `text`). */
  text: string;
  /** When the alert was raised (ISO). */
  at: string;
}

/** An alert before `text` and `at` are filled in. */
export type AlertInput = Omit<Alert, 'text' | 'at' | 'link'> & { queue?: string };

export interface AlertWebhookOptions {
  /** Unset: alerts are only logged. */
  url: string | undefined;
  /** Where users reach the web; links point at Bull Board's page of the run under it. */
  publicUrl: string | undefined;
  logger: Logger;
  /** `drumline_alerts_total{kind,result}`; see createAlertMetrics. */
  counter?: Counter<'kind' | 'result'>;
  /** Per attempt (default 5000 ms). */
  timeoutMs?: number;
  /** Tries after the first (default 2), waiting `backoffMs`, then twice that, between them. */
  retries?: number;
  backoffMs?: number;
}

/** Bull Board's page of one run, under the dashboard the web serves at `/admin/queues`. */
export function runLink(publicUrl: string | undefined, queue: string | undefined, runId: string | null): string | null {
  if (!publicUrl || !queue || !runId) return null;
  return `${publicUrl.replace(/\/+$/, '')}/admin/queues/queue/${encodeURIComponent(queue)}/${encodeURIComponent(runId)}`;
}

/**
 * Posts alerts to a webhook. `send` never rejects: a webhook that is down, slow or refusing costs
 * a few retries in the background, a log line and a count in `drumline_alerts_total`, and never
 * a job's outcome or the scheduler's loop.
 */
export class AlertWebhook {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;

  constructor(private readonly options: AlertWebhookOptions) {
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.retries = options.retries ?? 2;
    this.backoffMs = options.backoffMs ?? 500;
  }

  /** Posts `input` as an Alert; resolves once it was delivered or given up on, and never rejects. */
  send(input: AlertInput): Promise<void> {
    const { queue, ...fields } = input;
    const alert: Alert = { ...fields, link: runLink(this.options.publicUrl, queue, input.runId), text: describe(input), at: new Date().toISOString() };
    this.options.logger.warn({ alert }, `alert: ${alert.text}`);
    if (!this.options.url) return Promise.resolve();
    const delivery = this.deliver(this.options.url, alert).finally(() => this.inFlight.delete(delivery));
    this.inFlight.add(delivery);
    return delivery;
  }

  /** Waits for the alerts still being delivered, at most `ms`; for a graceful shutdown. */
  async flush(ms = this.timeoutMs): Promise<void> {
    if (this.inFlight.size === 0) return;
    await Promise.race([Promise.all(this.inFlight), sleep(ms, undefined, { ref: false })]);
  }

  private async deliver(url: string, alert: Alert): Promise<void> {
    const body = JSON.stringify(alert);
    let lastError = '';
    for (let attempt = 0; attempt <= this.retries; attempt += 1) {
      if (attempt > 0) await sleep(this.backoffMs * 2 ** (attempt - 1));
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        await response.body?.cancel();
        if (response.ok) {
          this.options.counter?.labels(alert.kind, 'sent').inc();
          return;
        }
        lastError = `HTTP ${response.status}`;
        // A 4xx other than 408/429 says the request itself is wrong: repeating it cannot help.
        if (response.status < 500 && response.status !== 408 && response.status !== 429) break;
      } catch (error) {
        lastError = error instanceof Error ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message) : String(error);
      }
    }
    this.options.counter?.labels(alert.kind, 'failed').inc();
    this.options.logger.error({ kind: alert.kind, job: alert.job, runId: alert.runId, schedule: alert.schedule, error: lastError }, 'alert webhook failed; the alert is lost');
  }
}

function describe(alert: AlertInput): string {
  switch (alert.kind) {
    case 'run-failed':
      return `drumline: run ${alert.runId} of ${alert.job} failed after ${alert.attempts} attempt(s): ${alert.reason}`;
    case 'ticks-missed':
      return `drumline: schedule ${alert.schedule} (${alert.job}) missed ticks: ${alert.reason}`;
    case 'schedule-overdue':
      return `drumline: schedule ${alert.schedule} (${alert.job}) is overdue: ${alert.reason}`;
    case 'schedule-stalled':
      return `drumline: schedule ${alert.schedule} (${alert.job}) has stalled: ${alert.reason}`;
  }
}

import type { AlertInput, AlertWebhook, DrumlineKeys, Logger, RedisConnection } from '@drumline/core/runtime';

/** A day: longer than any failover, short enough that the markers do not pile up. */
const SENT_MARKER_SECONDS = 86_400;

/**
 * Sends `alert` unless an alert about `subject` was already sent by this or an earlier leader
 * (SET NX with a TTL), so a failover mid-incident does not page anyone twice. Resolves once that
 * is decided, without waiting for the delivery (`alerts.flush()` does), and never rejects.
 */
export async function alertOnce(
  deps: { redis: RedisConnection; keys: DrumlineKeys; alerts: AlertWebhook; logger: Logger },
  subject: string,
  alert: AlertInput,
): Promise<void> {
  try {
    const first = await deps.redis.set(deps.keys.alertSent(subject), String(Date.now()), 'EX', SENT_MARKER_SECONDS, 'NX');
    if (first !== 'OK') return;
  } catch (error) {
    // Better a duplicate than a lost alert.
    deps.logger.warn({ err: error, subject }, 'could not record the alert as sent; sending it anyway');
  }
  void deps.alerts.send(alert);
}

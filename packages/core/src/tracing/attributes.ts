import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';

/**
 * The attribute names of Drumline's spans, in one place so that the README's table and the spans
 * agree. HTTP ones are OpenTelemetry's stable semantic conventions; the messaging ones follow its
 * (still incubating) messaging conventions, written out rather than imported from the incubating
 * entry, which may rename them; the rest are Drumline's own, under `drumline.`.
 */
export const SpanAttributes = {
  httpMethod: ATTR_HTTP_REQUEST_METHOD,
  httpRoute: ATTR_HTTP_ROUTE,
  httpStatusCode: ATTR_HTTP_RESPONSE_STATUS_CODE,
  urlPath: ATTR_URL_PATH,
  urlScheme: ATTR_URL_SCHEME,
  errorType: ATTR_ERROR_TYPE,
  messagingSystem: 'messaging.system',
  messagingOperation: 'messaging.operation.type',
  /** The queue. */
  messagingDestination: 'messaging.destination.name',
  /** The run id (BullMQ's job id). */
  messagingMessageId: 'messaging.message.id',
  /** Runs one span stands for (a bulk enqueue, a materialization). */
  messagingBatchCount: 'messaging.batch.message_count',
  job: 'drumline.job.name',
  attempt: 'drumline.run.attempt',
  /** How a run's attempt ended: completed, failed, retried, skipped, postponed or requeued. */
  outcome: 'drumline.run.outcome',
  scheduleId: 'drumline.schedule.id',
  /** The nominal tick of a scheduled run, in ms since the epoch (its id's `@<ms>`). */
  tick: 'drumline.schedule.tick',
  leaderTerm: 'drumline.leader.term',
} as const;

/** `messaging.system` of every queue span: the runs travel through BullMQ. */
const MESSAGING_SYSTEM = 'bullmq';

/**
 * The attributes every span about a run has: the messaging ones (BullMQ, `send` or `process`, the
 * queue, the run id when there is one) and the job's name.
 */
export function runSpanAttributes(operation: 'send' | 'process', queue: string, job: string, runId?: string): Record<string, string> {
  return {
    [SpanAttributes.messagingSystem]: MESSAGING_SYSTEM,
    [SpanAttributes.messagingOperation]: operation,
    [SpanAttributes.messagingDestination]: queue,
    ...(runId === undefined ? {} : { [SpanAttributes.messagingMessageId]: runId }),
    [SpanAttributes.job]: job,
  };
}

import { MAX_RUN_ID_LENGTH, ReplicaAcks, tickLedgerRetention, type JobRegistry, type Logger, type QueueSet, type RedisHealth, type RedisConnection } from '@drumline/core/runtime';
import type { Tracer } from '@opentelemetry/api';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { WebConfig } from './config.js';
import { dashboard } from './dashboard.js';
import { docsUi, openApi } from './docs.js';
import { apiTokenAuth } from './plugins/api-token-auth.js';
import { dashboardAuth } from './plugins/dashboard-auth.js';
import { errorHandler, handleNotFound } from './plugins/error-handler.js';
import { jsonBody } from './plugins/json-body.js';
import { queuesPlugin } from './plugins/queues.js';
import { replicaAcksHook } from './plugins/replica-acks.js';
import { requestTracing } from './plugins/request-tracing.js';
import { RequestLog } from './request-log.js';
import { healthRoutes, type ReadinessCheck } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { metricsRoutes } from './routes/metrics.js';
import { runControlRoutes } from './routes/run-control.js';
import { runRoutes } from './routes/runs.js';
import { scheduleRoutes } from './routes/schedules.js';
import { schedulesPage } from './routes/schedules-page.js';
import { scheduleTickRoutes } from './routes/schedule-ticks.js';

export type { ReadinessCheck } from './routes/health.js';

export interface AppDeps {
  config: WebConfig;
  registry: JobRegistry;
  /** The app owns them from here on: closing the app closes the queues and then `redis`. */
  queues: QueueSet;
  /** The init tasks' queue (on the same connection), shown in the dashboard so a failed task is visible; owned like `queues`. */
  initQueues?: QueueSet;
  /** The connection `queues` share; /readyz pings it. */
  redis: RedisConnection;
  /** Tracks `redis` (made with it) and hears the queues' errors; `drumline_redis_up` reads it. */
  redisHealth: RedisHealth;
  logger: Logger;
  /** More conditions /readyz waits for (init tasks, for example); Redis answering PING is always one. */
  readinessChecks?: readonly ReadinessCheck[];
  /** With tracing on: each /api request is a server span (the queues' enqueue spans are its children). */
  tracer?: Tracer | undefined;
}

const DASHBOARD_PATH = '/admin/queues';
const SCHEDULES_PAGE_PATH = '/admin/schedules';

/** 1 MiB: a bulk of 1000 ordinary payloads fits; anything larger is refused with 413 before parsing. */
const BODY_LIMIT = 1024 * 1024;
/** Levels of objects and arrays a JSON body may nest (the body is the first): deeper is refused with 400 before parsing. */
export const MAX_BODY_DEPTH = 64;
/**
 * Characters of one path segment, such as an id (Fastify's default, 100, answers 414 for longer ones).
 * Four times the longest id, so an id past its limit is answered 400 with the id rule, not 414.
 */
const MAX_PARAM_LENGTH = 4 * MAX_RUN_ID_LENGTH;

/** Builds the HTTP app without listening, so tests drive it with `app.inject()`. It enqueues and never runs a handler. */
export function buildApp(deps: AppDeps) {
  const { config } = deps;
  // Fastify makes a child logger per request (reqId bindings, a few µs) for its per-request line,
  // which is logged at info: below that level nobody reads it, so requests share the app's logger.
  const perRequestLogs = deps.logger.isLevelEnabled('info');
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    logController: new RequestLog({ enabled: perRequestLogs, pretty: config.LOG_PRETTY }),
    childLoggerFactory: (logger, bindings, options) => (perRequestLogs ? logger.child(bindings, options) : logger),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.register(errorHandler);
  app.register(jsonBody, { maxDepth: MAX_BODY_DEPTH });
  app.register(queuesPlugin, { registry: deps.registry, queues: deps.queues, initQueues: deps.initQueues, redis: deps.redis, redisHealth: deps.redisHealth, ledgerRetention: tickLedgerRetention(config) });
  app.register(openApi, { publicUrl: config.PUBLIC_URL });
  app.register(dashboardAuth, { user: config.DASHBOARD_USER, password: config.DASHBOARD_PASSWORD });

  // No credentials: see routes/health.ts.
  app.register(healthRoutes, { readinessChecks: deps.readinessChecks ?? [] });

  app.register(
    async (api) => {
      // First, so that a request refused by the token check has its span too.
      if (deps.tracer) await api.register(requestTracing, { tracer: deps.tracer });
      await api.register(apiTokenAuth, { token: config.API_TOKEN });
      // WAIT on the connection the routes write with (the queues share it).
      await api.register(replicaAcksHook, { acks: new ReplicaAcks(deps.redis, { replicas: config.REDIS_WAIT_REPLICAS, timeoutMs: config.REDIS_WAIT_TIMEOUT_MS }) });
      // Fastify reads text/plain bodies as strings by default: here they would fail validation with
      // "expected object, received string" instead of a 415 naming the type to send.
      api.removeContentTypeParser('text/plain');
      // Unknown /api paths answer 404 only to callers holding the token.
      api.setNotFoundHandler(handleNotFound);
      await api.register(jobRoutes, { prefix: '/jobs' });
      await api.register(runRoutes, { prefix: '/jobs' });
      await api.register(runControlRoutes, { prefix: '/jobs' });
      await api.register(scheduleRoutes, { prefix: '/schedules' });
      await api.register(scheduleTickRoutes, { prefix: '/schedules' });
    },
    { prefix: '/api' },
  );

  // Its own scope, so its token hook covers /metrics alone. Without METRICS_TOKEN there is no route at all.
  if (config.METRICS_TOKEN) app.register(metricsRoutes, { token: config.METRICS_TOKEN });

  app.register(dashboard, { prefix: DASHBOARD_PATH, links: [{ text: 'Schedules', url: SCHEDULES_PAGE_PATH }] });
  app.register(schedulesPage, { prefix: SCHEDULES_PAGE_PATH, dashboardPath: DASHBOARD_PATH, docsPath: '/docs' });
  app.register(docsUi);
  return app;
}

export type WebApp = ReturnType<typeof buildApp>;

import { ConfigError, QueueSet, RedisHealth, createJobRegistry, createLogger, createRedis, loadDefinitions, startTracing } from '@drumline/core/runtime';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { loadConfig, type WebConfig } from './config.js';

// The life of the web process: load config, start tracing (when OTEL_* ask for it), connect, build,
// listen, and on SIGTERM/SIGINT stop accepting requests, let in-flight ones finish, close the queues
// and Redis, export the last spans, and exit 0.

let config: WebConfig;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`drumline web: ${error.message}\n`);
  process.exit(1);
}

const logger = createLogger({ app: 'web', level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
const tracing = await startTracing(config, { serviceName: 'drumline-web', logger });
// The user's jobs, imported here so that a mistake in one is a line naming it, not a stack trace.
const { registry, initRegistry, initTasks } = await loadDefinitions('drumline web', {
  jobsModule: process.env.JOBS_MODULE,
  importModule: (specifier) => import(specifier),
  build: ({ initTasks, jobs }) => ({ registry: createJobRegistry(jobs), initRegistry: createJobRegistry(initTasks), initTasks }),
});
const redisHealth = new RedisHealth({ logger });
const redis = createRedis(config, { health: redisHealth });
const queues = new QueueSet(registry, redis, config.KEY_PREFIX, redisHealth, tracing?.tracer);
const initQueues = new QueueSet(initRegistry, redis, config.KEY_PREFIX, redisHealth);
// Init tasks run once per release before the deployment is ready: the scheduler marks them done.
const initDone = async () =>
  (initTasks as readonly unknown[]).length === 0 || (await redis.hexists(queues.keys.initDone, config.RELEASE)) === 1
    ? undefined
    : `init tasks of release ${config.RELEASE} have not all completed (see the drumline-init queue)`;
const app = buildApp({ config, registry, queues, initQueues, redis, redisHealth, logger, readinessChecks: [initDone], tracer: tracing?.tracer });

closeWithGrace({ delay: 10_000, logger }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'closing after an unexpected error');
  else logger.info({ signal }, 'closing: draining requests, then queues and Redis');
  await app.close();
  await tracing?.shutdown();
});

await app.listen({ port: config.PORT, host: config.HOST });

import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { IMiscLink } from '@bull-board/api/typings/app';
import { InvalidPayloadError, type JobDefinition } from '@drumline/core/runtime';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, preHandlerHookHandler } from 'fastify';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { ErrorBody } from './plugins/error-handler.js';
import { enqueueOptionsSchema } from './routes/jobs.js';

export interface DashboardOptions {
  /** Our own pages, in Bull Board's header menu. */
  links: IMiscLink[];
}

const ADD_JOB_ROUTE = '/api/queues/:queueName/add';
const PROMOTE_ROUTE = '/api/queues/:queueName/:jobId/promote';

const keepJobs = z.union([z.boolean(), z.int().min(0), z.strictObject({ age: z.int().min(0).optional(), count: z.int().min(0).optional() })]);

/**
 * What Bull Board's "Add job" and "Duplicate" send: a name, the data, and options, which for a
 * duplicate are the original run's. The API's enqueue rules (id alphabet, delay, priority), plus the
 * retry and retention options a run carries; any other BullMQ option (repeat, parent, ...) is refused:
 * BullMQ takes most of them unchecked, then throws in Redis or stores a run no worker can finish.
 */
const addJobBody = z.strictObject({
  name: z.string(),
  data: z.unknown(),
  options: enqueueOptionsSchema
    .extend({
      attempts: z.int().min(0).optional(),
      backoff: z.union([z.int().min(0), z.strictObject({ type: z.enum(['fixed', 'exponential']), delay: z.int().min(0).optional() })]).optional(),
      lifo: z.boolean().optional(),
      removeOnComplete: keepJobs.optional(),
      removeOnFail: keepJobs.optional(),
    })
    .optional(),
});

function refusal(issues: NonNullable<ErrorBody['issues']>): ErrorBody {
  return { error: 'DRUMLINE_INVALID_REQUEST', message: `invalid body: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, issues };
}

/** Why Bull Board must not add this run to a queue of `jobs`, or undefined when it may. */
function addJobRefusal(jobs: readonly JobDefinition[], queueName: string, body: unknown): ErrorBody | undefined {
  const parsed = addJobBody.safeParse(body);
  if (!parsed.success) return refusal(parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })));
  const job = jobs.find((candidate) => candidate.name === parsed.data.name);
  if (!job) {
    return refusal([{ path: 'name', message: `queue \`${queueName}\` runs ${jobs.map((j) => `\`${j.name}\``).join(', ')}; \`${parsed.data.name}\` is none of them` }]);
  }
  const data = job.schema.safeParse(parsed.data.data);
  if (!data.success) {
    const { issues, message } = InvalidPayloadError.fromZod(job.name, data.error, ['data']);
    return { error: 'DRUMLINE_INVALID_PAYLOAD', message, issues };
  }
  return undefined;
}

/** The stylesheet Bull Board's page loads from Google Fonts: the page must not leave the deployment. */
const WEB_FONTS_LINK = /<link href="https:\/\/fonts\.googleapis\.com\/[^"]*" rel="stylesheet">/;

/** The same families and weights, served from their @fontsource packages under `<prefix>/fonts/`. */
const LOCAL_FONTS = [
  { family: 'ibm-plex-sans', weights: [400, 500, 600] },
  { family: 'ibm-plex-mono', weights: [400, 500] },
] as const;

const localFontLinks = LOCAL_FONTS.flatMap(({ family, weights }) =>
  // Relative to the page's `<base href>`, which is the dashboard's prefix.
  weights.map((weight) => `<link href="fonts/${family}/${weight}.css" rel="stylesheet">`),
).join('');

const packageDir = (name: string) => dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));

/**
 * Bull Board over every queue of the registry, and the init tasks' queue so a failed init task
 * (which holds /readyz at 503) can be found and retried. Register it with a prefix: the basic-auth hook is
 * added in this scope, before Bull Board's routes, so its page, API, static assets and fonts all sit behind it.
 * Its add-job route is checked like an enqueue through the API, answering 400 with the reason, and
 * promoting a run that is not delayed answers 409.
 */
export const dashboard: FastifyPluginAsync<DashboardOptions> = async (scope, { links }) => {
  scope.addHook('onRequest', scope.requireDashboardCredentials);
  // Only Bull Board's page is HTML here; its scripts and API answers pass through untouched.
  scope.addHook('onSend', async (_request, reply, payload) => {
    if (typeof payload !== 'string' || !String(reply.getHeader('content-type')).startsWith('text/html')) return payload;
    return payload.replace(WEB_FONTS_LINK, localFontLinks);
  });
  for (const { family } of LOCAL_FONTS) {
    await scope.register(fastifyStatic, { root: packageDir(`@fontsource/${family}`), prefix: `/fonts/${family}/`, decorateReply: false });
  }

  const registries = [scope.queues.registry, ...(scope.initQueues ? [scope.initQueues.registry] : [])];
  const checkAddJob: preHandlerHookHandler = (request, reply, done) => {
    if (request.method !== 'POST' || !request.routeOptions.url?.endsWith(ADD_JOB_ROUTE)) return done();
    const { queueName } = request.params as { queueName: string };
    const jobs = registries.flatMap((registry) => registry.jobs.filter((job) => job.queue === queueName));
    // A queue the board does not show: Bull Board answers its own 404.
    const refused = jobs.length > 0 ? addJobRefusal(jobs, queueName, request.body) : undefined;
    if (!refused) return done();
    reply.code(400).send(refused);
  };
  scope.addHook('preHandler', checkAddJob);
  // Bull Board promotes without looking: BullMQ throws for a run that is not delayed, which it answers 500.
  const queues = [...scope.queues.all(), ...(scope.initQueues?.all() ?? [])];
  scope.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'PUT' || !request.routeOptions.url?.endsWith(PROMOTE_ROUTE)) return;
    const { queueName, jobId } = request.params as { queueName: string; jobId: string };
    const state = await queues.find((queue) => queue.name === queueName)?.getJobState(jobId);
    // No such queue or run: Bull Board answers its own 404.
    if (state === undefined || state === 'unknown' || state === 'delayed') return;
    const body: ErrorBody = { error: 'DRUMLINE_NOT_DELAYED', message: `run \`${jobId}\` is ${state}: only a delayed run can be promoted` };
    return reply.code(409).send(body);
  });
  const serverAdapter = new FastifyAdapter().setBasePath(scope.prefix);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Drumline', miscLinks: links } },
  });
  await scope.register(serverAdapter.registerPlugin());
};

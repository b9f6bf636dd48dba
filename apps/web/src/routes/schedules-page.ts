import type { onRequestHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { scheduleIdSchema, TickLedger, UnknownScheduleError } from '@drumline/core/runtime';
import { errorBodySchema, type ErrorBody } from '../plugins/error-handler.js';
import { pageCss, pageJs } from '../schedules-page/assets.js';
import { renderSchedulesPage } from '../schedules-page/render.js';
import { renderProblem, renderTickStory } from '../schedules-page/tick-story-page.js';
import { COUNT_WINDOW_MS, STRIP_TICKS } from '../schedules-page/tick-strip.js';
import { TickHistory } from '../tick-history.js';
import { instant } from './schedule-ticks.js';
import { backfillBody, backfillSchema, enqueuedSchema, idParams, listQuery, ScheduleService, scheduleView } from './schedules.js';

const cancelledSchema = z.object({ id: z.string(), state: z.enum(['cancelled', 'cancelling']) });

export interface SchedulesPageOptions {
  /** Bull Board's base path, for links to runs and back. */
  dashboardPath: string;
  docsPath: string;
}

/** The header the page's script sends with every action; its value is fixed. */
export const PAGE_ACTION_HEADER = 'x-drumline-page';

/**
 * The browser sends the dashboard's basic-auth credentials with any request to this origin,
 * including a form another site posts here, so credentials alone do not prove the page made the
 * request (CSRF). A form cannot set a custom header, and a cross-origin script that tries needs a
 * CORS preflight this server never grants: requiring the header leaves only our own page's script.
 */
const requirePageHeader: onRequestHookHandler = (request, reply, done) => {
  if (request.headers[PAGE_ACTION_HEADER] === 'schedules') return done();
  const body: ErrorBody = { error: 'DRUMLINE_FORBIDDEN', message: `send the ${PAGE_ACTION_HEADER}: schedules header; the schedules page's buttons do` };
  reply.code(403).send(body);
};

const securityHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

const storyParams = z.object({ id: scheduleIdSchema, tick: instant });

/**
 * The schedules page (Bull Board has none) behind the dashboard's basic auth: every schedule with
 * its next runs, last run and lateness, its recent ticks (each linked to its story), and pause /
 * resume / run-now buttons. The buttons post to
 * routes of this scope, so the page never needs the API token; they go through the same
 * ScheduleService as the API.
 */
export const schedulesPage: FastifyPluginAsyncZod<SchedulesPageOptions> = async (scope, { dashboardPath, docsPath }) => {
  scope.addHook('onRequest', scope.requireDashboardCredentials);
  const schedules = new ScheduleService(scope);
  const history = new TickHistory(scope.redis, schedules.store, new TickLedger(scope.redis, scope.queues.prefix));
  const links = { self: scope.prefix, dashboard: dashboardPath, docs: docsPath };
  const jobOf = (job: string) => scope.registry.find(job);
  const hide = true; // Not part of the API: keep it out of the OpenAPI document.

  scope.get('/', { schema: { hide, querystring: listQuery } }, async (request, reply) => {
    const page = await schedules.list(request.query);
    const ids = page.schedules.flatMap((schedule) => ('broken' in schedule ? [] : [schedule.id]));
    const recent = await history.recent(ids, { limit: STRIP_TICKS, countMs: COUNT_WINDOW_MS });
    return reply.headers(securityHeaders).type('text/html; charset=utf-8').send(renderSchedulesPage({ page, recent, q: request.query.q?.trim() ?? '' }, jobOf, links));
  });

  // Validated here rather than by the route's schema, so that a bad link gets a page, not the API's JSON.
  scope.get('/:id/ticks/:tick', { schema: { hide } }, async (request, reply) => {
    const html = (status: number, body: string) => reply.code(status).headers(securityHeaders).type('text/html; charset=utf-8').send(body);
    const parsed = storyParams.safeParse(request.params);
    if (!parsed.success) {
      const message = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
      return html(400, renderProblem('Bad request', message, links));
    }
    const { id, tick } = parsed.data;
    const story = await history.story(id, tick).catch((error: unknown) => {
      if (error instanceof UnknownScheduleError) return null;
      throw error;
    });
    if (story === null) return html(404, renderProblem('Not found', `no schedule with id \`${id}\``, links));
    if (!story) return html(404, renderProblem('Not found', `${new Date(tick).toISOString()} is not a tick of schedule \`${id}\``, links));
    const record = await schedules.store.get(id);
    const queue = record ? scope.registry.find(record.job)?.queue : undefined;
    const runUrl = story.runId && queue ? `${dashboardPath}/queue/${encodeURIComponent(queue)}/${encodeURIComponent(story.runId)}` : undefined;
    return html(200, renderTickStory(id, story, runUrl, links));
  });
  scope.get('/page.css', { schema: { hide } }, async (_request, reply) => reply.headers(securityHeaders).type('text/css; charset=utf-8').send(pageCss));
  scope.get('/page.js', { schema: { hide } }, async (_request, reply) => reply.headers(securityHeaders).type('text/javascript; charset=utf-8').send(pageJs));

  const action = <Response extends Record<number, z.ZodType>>(response: Response) => ({
    schema: { hide, params: idParams, response: { ...response, 403: errorBodySchema, 404: errorBodySchema } },
    onRequest: requirePageHeader,
  });
  const actionWithBody = <Response extends Record<number, z.ZodType>, Body extends z.ZodType>(response: Response, body: Body) => ({
    schema: { hide, params: idParams, body, response: { ...response, 403: errorBodySchema, 404: errorBodySchema } },
    onRequest: requirePageHeader,
  });
  for (const paused of [true, false]) {
    scope.post(`/:id/${paused ? 'pause' : 'resume'}`, action({ 200: scheduleView }), async (request) => schedules.setPaused(request.params.id, paused));
  }
  scope.post('/:id/trigger', action({ 202: enqueuedSchema }), async (request, reply) => reply.code(202).send(await schedules.trigger(request.params.id)));
  scope.post('/:id/cancel-run', action({ 200: cancelledSchema, 409: errorBodySchema }), async (request) => schedules.cancelActiveRun(request.params.id));
  scope.post('/:id/backfill', actionWithBody({ 202: backfillSchema, 400: errorBodySchema, 409: errorBodySchema }, backfillBody), async (request, reply) =>
    reply.code(202).send(await schedules.backfill(request.params.id, request.body)),
  );
};

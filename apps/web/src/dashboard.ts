import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { IMiscLink } from '@bull-board/api/typings/app';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

export interface DashboardOptions {
  /** Our own pages, in Bull Board's header menu. */
  links: IMiscLink[];
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

  const serverAdapter = new FastifyAdapter().setBasePath(scope.prefix);
  createBullBoard({
    queues: [...scope.queues.all(), ...(scope.initQueues?.all() ?? [])].map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Drumline', miscLinks: links } },
  });
  await scope.register(serverAdapter.registerPlugin());
};

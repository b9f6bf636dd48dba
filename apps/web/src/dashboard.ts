import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { IMiscLink } from '@bull-board/api/typings/app';
import type { FastifyPluginAsync } from 'fastify';

export interface DashboardOptions {
  /** Our own pages, in Bull Board's header menu. */
  links: IMiscLink[];
}

/**
 * Bull Board over every queue of the registry, and the init tasks' queue so a failed init task
 * (which holds /readyz at 503) can be found and retried. Register it with a prefix: the basic-auth hook is
 * added in this scope, before Bull Board's routes, so its page, API and static assets all sit behind it.
 */
export const dashboard: FastifyPluginAsync<DashboardOptions> = async (scope, { links }) => {
  scope.addHook('onRequest', scope.requireDashboardCredentials);
  const serverAdapter = new FastifyAdapter().setBasePath(scope.prefix);
  createBullBoard({
    queues: [...scope.queues.all(), ...(scope.initQueues?.all() ?? [])].map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Drumline', miscLinks: links } },
  });
  await scope.register(serverAdapter.registerPlugin());
};

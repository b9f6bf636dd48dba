import basicAuth from '@fastify/basic-auth';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { onRequestHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { UNAUTHORIZED, type ErrorBody } from './error-handler.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** An onRequest hook: add it to a scope to put every route of that scope behind the dashboard's basic auth. */
    requireDashboardCredentials: onRequestHookHandler;
  }
}

export interface DashboardAuthOptions {
  user: string;
  password: string;
}

/** Compares in constant time; hashing first makes the length of the secret unobservable too. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Basic auth for the human-facing pages (dashboard, API docs). The hook answers a 401 itself instead
 * of passing the error on, because Bull Board installs its own error handler in its scope and would
 * otherwise reshape it.
 */
export const dashboardAuth = fp<DashboardAuthOptions>(
  async (app, { user, password }) => {
    await app.register(basicAuth, {
      authenticate: { realm: 'Drumline' },
      async validate(givenUser, givenPassword) {
        // Both comparisons always run, so timing does not tell which one failed.
        const userMatches = sameSecret(givenUser, user);
        const passwordMatches = sameSecret(givenPassword, password);
        if (!userMatches || !passwordMatches) return new Error('wrong dashboard user or password');
      },
    });
    app.decorate<onRequestHookHandler>('requireDashboardCredentials', function (request, reply, done) {
      app.basicAuth(request, reply, (error?: Error) => {
        if (!error) return done();
        const body: ErrorBody = { error: UNAUTHORIZED, message: `${error.message}: sign in with DASHBOARD_USER and DASHBOARD_PASSWORD` };
        reply.code(401).send(body);
      });
    });
  },
  { name: 'drumline-dashboard-auth', fastify: '5.x' },
);

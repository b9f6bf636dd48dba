import bearerAuth from '@fastify/bearer-auth';
import fp from 'fastify-plugin';
import { UNAUTHORIZED, type ErrorBody } from './error-handler.js';

export interface ApiTokenAuthOptions {
  token: string;
  /** The variable the token comes from, for the 401's message (default API_TOKEN). */
  variable?: string;
}

/**
 * Every route of the scope it is registered in requires `Authorization: Bearer <API_TOKEN>`.
 * @fastify/bearer-auth compares in constant time and runs onRequest, before the body is read. The
 * scheme is case-insensitive (RFC 7235 §2.1: `bearer` works too); the token is compared exactly.
 */
export const apiTokenAuth = fp<ApiTokenAuthOptions>(
  async (app, { token, variable = 'API_TOKEN' }) => {
    await app.register(bearerAuth, {
      keys: [token],
      // Its name for a scheme matched in any case (RFC 6749's reading); 'rfc6750' wants `Bearer` exactly.
      specCompliance: 'rfc6749',
      addHook: 'onRequest',
      verifyErrorLogLevel: 'warn',
      errorResponse: (error): ErrorBody => ({ error: UNAUTHORIZED, message: `${error.message}: send Authorization: Bearer <${variable}>` }),
    });
  },
  { name: 'drumline-api-token-auth', fastify: '5.x' },
);

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

export interface OpenApiOptions {
  publicUrl: string | undefined;
}

/**
 * Collects every route registered after it into an OpenAPI 3 document, converting the routes' zod
 * schemas (so each job's payload schema is documented from the same source that validates it).
 */
export const openApi = fp<OpenApiOptions>(
  async (app, { publicUrl }) => {
    await app.register(swagger, {
      openapi: {
        info: { title: 'Drumline', version: '1.0.0', description: 'Enqueue and inspect background jobs.' },
        servers: publicUrl ? [{ url: publicUrl }] : [],
        components: {
          securitySchemes: {
            apiToken: { type: 'http', scheme: 'bearer', description: 'API_TOKEN' },
          },
        },
      },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
  },
  { name: 'drumline-openapi', fastify: '5.x' },
);

/** Swagger UI at /docs and the document at /docs/json, behind the dashboard's basic auth like the dashboard. */
export const docsUi: FastifyPluginAsync = async (scope) => {
  scope.addHook('onRequest', scope.requireDashboardCredentials);
  await scope.register(swaggerUi, { routePrefix: '/docs' });
};

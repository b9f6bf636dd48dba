import { expect } from 'vitest';
import type { z } from 'zod';
import { parseEnv, type Env } from './config.js';
import { ConfigError } from './errors/index.js';

/** The ConfigError that parsing `env` throws; fails the test when it parses or throws something else. */
export function configError(schema: z.ZodObject, env: Env): ConfigError {
  try {
    parseEnv(schema, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, but the environment was accepted');
}

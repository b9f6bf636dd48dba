import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { baseEnvSchema, intEnv, listEnv, parseEnv } from './config.js';
import { configError } from './config.test-support.js';

describe('parseEnv', () => {
  it('applies the defaults when nothing is set', () => {
    // No Redis variable set: createRedis connects to DEFAULT_REDIS_URL (see redis.test.ts).
    expect(parseEnv(baseEnvSchema, {})).toEqual({
      KEY_PREFIX: 'drumline',
      LOG_LEVEL: 'info',
      LOG_PRETTY: false,
    });
  });

  it('reads set values and ignores variables the schema does not name', () => {
    const config = parseEnv(baseEnvSchema, {
      REDIS_URL: 'rediss://user:secret@redis.internal:6380/2',
      KEY_PREFIX: 'shop_eu-1',
      LOG_LEVEL: 'debug',
      LOG_PRETTY: 'yes',
      HOME: '/root',
    });

    expect(config).toEqual({
      REDIS_URL: 'rediss://user:secret@redis.internal:6380/2',
      KEY_PREFIX: 'shop_eu-1',
      LOG_LEVEL: 'debug',
      LOG_PRETTY: true,
    });
  });

  it('counts empty strings as unset, so the defaults apply', () => {
    expect(parseEnv(baseEnvSchema, { REDIS_URL: '', KEY_PREFIX: '', LOG_LEVEL: '', LOG_PRETTY: '' })).toEqual(parseEnv(baseEnvSchema, {}));
  });

  it.each([
    ['REDIS_URL', 'http://127.0.0.1:6379', 'must be a redis:// or rediss:// URL'],
    ['REDIS_URL', '127.0.0.1:6379', 'must be a redis:// or rediss:// URL'],
    ['KEY_PREFIX', 'drum:line', 'must be 1-32 letters, digits, _ or -'],
    ['KEY_PREFIX', 'x'.repeat(33), 'must be 1-32 letters, digits, _ or -'],
    ['LOG_LEVEL', 'verbose', 'Invalid option: expected one of'],
    ['LOG_PRETTY', 'maybe', 'Invalid option: expected one of'],
  ])('refuses %s=%j with a ConfigError naming the variable and the rule', (variable, value, rule) => {
    const error = configError(baseEnvSchema, { [variable]: value });

    expect(error.code).toBe('DRUMLINE_CONFIG');
    expect(error.variables).toEqual([variable]);
    expect(error.message).toContain(`${variable} ${rule}`);
  });

  it('names every bad variable at once, so one restart is enough to see them all', () => {
    const error = configError(baseEnvSchema, { REDIS_URL: 'http://x', LOG_LEVEL: 'loud' });

    expect(error.variables).toEqual(['REDIS_URL', 'LOG_LEVEL']);
    expect(error.message).toMatch(/^invalid configuration:\n {2}REDIS_URL .+\n {2}LOG_LEVEL .+$/);
  });

  it.each([
    ['a string', z.string()],
    ['a URL', z.url()],
    ['an enum', z.enum(['blue', 'green'])],
    ['a literal', z.literal('on')],
    ['a number', intEnv(1)],
    ['a boolean', z.stringbool()],
  ])('says a missing required variable (%s) "is required but not set"', (_kind, type) => {
    const schema = baseEnvSchema.extend({ API_TOKEN: type });

    for (const env of [{}, { API_TOKEN: '' }]) {
      const error = configError(schema, env);
      expect(error.variables).toEqual(['API_TOKEN']);
      expect(error.message).toBe('invalid configuration:\n  API_TOKEN is required but not set');
    }
  });

  it('keeps the rule, not "is required", for a required variable that is set to a bad value', () => {
    const error = configError(baseEnvSchema.extend({ DEPLOY_COLOR: z.enum(['blue', 'green']) }), { DEPLOY_COLOR: 'red' });

    expect(error.message).toContain('DEPLOY_COLOR Invalid option');
    expect(error.message).not.toContain('required');
  });
});

describe('intEnv', () => {
  const schema = z.object({ PORT: intEnv(1024, 65_535) });

  it('reads a whole number within its bounds, the bounds included', () => {
    expect(parseEnv(schema, { PORT: '1024' })).toEqual({ PORT: 1024 });
    expect(parseEnv(schema, { PORT: '8080' })).toEqual({ PORT: 8080 });
    expect(parseEnv(schema, { PORT: '65535' })).toEqual({ PORT: 65_535 });
  });

  it.each([
    ['80', 1024],
    ['-1', 1024],
    ['65536', 65_535],
  ])('refuses %j with a message giving the bound it passes, %i', (value, bound) => {
    const error = configError(schema, { PORT: value });

    expect(error.variables).toEqual(['PORT']);
    expect(error.message).toMatch(new RegExp(`\\n {2}PORT [^\\n]*\\b${bound}\\b`));
  });

  it('refuses a fraction, saying it must be a whole number', () => {
    expect(configError(schema, { PORT: '8080.5' }).message).toContain('PORT must be a whole number');
  });

  it('refuses a value that is not a number, saying it must be a whole number', () => {
    const error = configError(schema, { PORT: 'eighty' });

    expect(error.variables).toEqual(['PORT']);
    expect(error.message).toBe('invalid configuration:\n  PORT must be a whole number');
  });

  it('has no upper bound unless given one', () => {
    expect(parseEnv(z.object({ N: intEnv(0) }), { N: '9007199254740991' })).toEqual({ N: Number.MAX_SAFE_INTEGER });
  });
});

describe('listEnv', () => {
  const schema = z.object({ QUEUES: listEnv });

  it('splits on commas and trims each item', () => {
    expect(parseEnv(schema, { QUEUES: 'email, reports ,maintenance' })).toEqual({ QUEUES: ['email', 'reports', 'maintenance'] });
  });

  it('drops empty items, so a trailing or doubled comma does no harm', () => {
    expect(parseEnv(schema, { QUEUES: ',email,, ,reports,' })).toEqual({ QUEUES: ['email', 'reports'] });
  });

  it('reads a single item as a list of one', () => {
    expect(parseEnv(schema, { QUEUES: 'email' })).toEqual({ QUEUES: ['email'] });
  });
});

describe('the Redis connection variables', () => {
  it('reads REDIS_SENTINELS and REDIS_CLUSTER_NODES as host:port lists, IPv6 addresses in brackets', () => {
    expect(parseEnv(baseEnvSchema, { REDIS_SENTINELS: 'sentinel-1:26379, 10.0.0.7:26380,[::1]:26381', REDIS_SENTINEL_NAME: 'drumline-primary' })).toMatchObject({
      REDIS_SENTINELS: [
        { host: 'sentinel-1', port: 26_379 },
        { host: '10.0.0.7', port: 26_380 },
        { host: '::1', port: 26_381 },
      ],
      REDIS_SENTINEL_NAME: 'drumline-primary',
    });
    expect(parseEnv(baseEnvSchema, { REDIS_CLUSTER_NODES: 'redis-a:7000,redis-b:7001', REDIS_PASSWORD: 's3cret', REDIS_TLS: 'true' })).toMatchObject({
      REDIS_CLUSTER_NODES: [
        { host: 'redis-a', port: 7000 },
        { host: 'redis-b', port: 7001 },
      ],
      REDIS_PASSWORD: 's3cret',
      REDIS_TLS: true,
    });
  });

  it.each([
    ['REDIS_CLUSTER_NODES', 'redis-a', 'must be host:port pairs separated by commas; `redis-a` is not one'],
    ['REDIS_CLUSTER_NODES', 'redis-a:7000,redis-b', '`redis-b` is not one'],
    ['REDIS_CLUSTER_NODES', 'redis-a:0', '`redis-a:0` is not one'],
    ['REDIS_CLUSTER_NODES', 'redis-a:65536', '`redis-a:65536` is not one'],
    ['REDIS_CLUSTER_NODES', 'redis://redis-a:7000', '`redis://redis-a:7000` is not one'],
    ['REDIS_CLUSTER_NODES', '::1:7000', '`::1:7000` is not one'],
    ['REDIS_CLUSTER_NODES', ' , ', 'must name at least one host:port'],
    ['REDIS_SENTINELS', 'sentinel-1', '`sentinel-1` is not one'],
    ['REDIS_TLS', 'maybe', 'Invalid option: expected one of'],
  ])('refuses %s=%j, naming the variable and the item', (variable, value, rule) => {
    // Each with the rest of its shape set right, so the one bad value is all there is to say.
    const rest = { REDIS_SENTINELS: { REDIS_SENTINEL_NAME: 'primary' }, REDIS_CLUSTER_NODES: {}, REDIS_TLS: { REDIS_CLUSTER_NODES: 'redis-a:7000' } }[variable];
    const error = configError(baseEnvSchema, { ...rest, [variable]: value });

    expect(error.variables).toEqual([variable]);
    expect(error.message).toMatch(new RegExp(`^invalid configuration:\\n  ${variable} .+$`));
    expect(error.message).toContain(rule);
  });

  it.each([
    [{ REDIS_URL: 'redis://redis:6379', REDIS_CLUSTER_NODES: 'redis-a:7000' }, ['REDIS_CLUSTER_NODES'], 'REDIS_CLUSTER_NODES cannot be set together with REDIS_URL'],
    [{ REDIS_URL: 'redis://redis:6379', REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'p' }, ['REDIS_SENTINELS'], 'REDIS_SENTINELS cannot be set together with REDIS_URL'],
    [{ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'p', REDIS_CLUSTER_NODES: 'redis-a:7000' }, ['REDIS_CLUSTER_NODES'], 'REDIS_CLUSTER_NODES cannot be set together with REDIS_SENTINELS'],
    [
      { REDIS_URL: 'redis://redis:6379', REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'p', REDIS_CLUSTER_NODES: 'redis-a:7000' },
      ['REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'],
      'REDIS_CLUSTER_NODES cannot be set together with REDIS_URL',
    ],
  ])('refuses two ways to reach Redis at once, naming both variables: %j', (env, variables, says) => {
    const error = configError(baseEnvSchema, env);

    expect(error.variables).toEqual(variables);
    expect(error.message).toContain(says);
    expect(error.message).toContain('set one of REDIS_URL (one Redis), REDIS_SENTINELS (Sentinel) or REDIS_CLUSTER_NODES (Cluster)');
  });

  it('requires REDIS_SENTINEL_NAME with REDIS_SENTINELS', () => {
    const error = configError(baseEnvSchema, { REDIS_SENTINELS: 's:26379' });

    expect(error.variables).toEqual(['REDIS_SENTINEL_NAME']);
    expect(error.message).toBe('invalid configuration:\n  REDIS_SENTINEL_NAME is required with REDIS_SENTINELS: the name the sentinels monitor the primary under');
  });

  it.each(['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD'])('refuses %s without REDIS_SENTINELS, which alone reads it', (variable) => {
    for (const env of [{}, { REDIS_CLUSTER_NODES: 'redis-a:7000' }]) {
      const error = configError(baseEnvSchema, { ...env, [variable]: 'x' });
      expect(error.variables).toEqual([variable]);
      expect(error.message).toContain(`${variable} is only read with REDIS_SENTINELS`);
    }
  });

  it.each(['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'])('refuses %s with REDIS_URL, whose URL carries its credentials and TLS', (variable) => {
    for (const env of [{}, { REDIS_URL: 'redis://redis:6379' }]) {
      const error = configError(baseEnvSchema, { ...env, [variable]: variable === 'REDIS_TLS' ? 'true' : 'x' });
      expect(error.variables).toEqual([variable]);
      expect(error.message).toContain(`${variable} is only read with REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL, put the credentials in the URL`);
    }
  });

  it('gives the data nodes of Sentinel their credentials and TLS, and the sentinels their password', () => {
    const config = parseEnv(baseEnvSchema, {
      REDIS_SENTINELS: 's:26379',
      REDIS_SENTINEL_NAME: 'p',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_USERNAME: 'drumline',
      REDIS_PASSWORD: 'data-secret',
      REDIS_TLS: 'true',
    });
    expect(config).toMatchObject({ REDIS_SENTINEL_PASSWORD: 'sentinel-secret', REDIS_USERNAME: 'drumline', REDIS_PASSWORD: 'data-secret', REDIS_TLS: true });
  });
});

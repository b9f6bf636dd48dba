import { ConfigError } from '@drumline/core/runtime';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

const valid = { API_TOKEN: 'a'.repeat(32), DASHBOARD_USER: 'operator', DASHBOARD_PASSWORD: 'long-enough-password' };

/** Matches the ConfigError that names exactly `variables`, with a message matching `message`. */
function configError(variables: string[], message: RegExp = /./) {
  return expect.objectContaining({ constructor: ConfigError, variables, message: expect.stringMatching(message) });
}

describe('web config', () => {
  it('applies defaults for everything but the credentials', () => {
    const config = loadConfig(valid);
    expect(config).toMatchObject({ PORT: 3000, HOST: '0.0.0.0', KEY_PREFIX: 'drumline' });
    expect(config.REDIS_URL).toBeUndefined(); // createRedis's default, redis://127.0.0.1:6379
    expect(config.PUBLIC_URL).toBeUndefined();
  });

  it('refuses to start without API_TOKEN, naming it', () => {
    expect(() => loadConfig({ ...valid, API_TOKEN: undefined })).toThrow(configError(['API_TOKEN'], /API_TOKEN is required but not set/));
  });

  it('treats an empty API_TOKEN as unset', () => {
    expect(() => loadConfig({ ...valid, API_TOKEN: '' })).toThrow(configError(['API_TOKEN'], /API_TOKEN is required/));
  });

  it('refuses an API_TOKEN shorter than 16 characters', () => {
    expect(() => loadConfig({ ...valid, API_TOKEN: 'short-token' })).toThrow(configError(['API_TOKEN'], /API_TOKEN must be at least 16 characters/));
  });

  it('refuses an API_TOKEN that cannot travel in a bearer header', () => {
    expect(() => loadConfig({ ...valid, API_TOKEN: 'has spaces in it, so no' })).toThrow(configError(['API_TOKEN'], /API_TOKEN must be a bearer token/));
  });

  it('serves no /metrics unless METRICS_TOKEN is set, and refuses a weak one, naming it', () => {
    expect(loadConfig(valid).METRICS_TOKEN).toBeUndefined();
    expect(() => loadConfig({ ...valid, METRICS_TOKEN: 'short' })).toThrow(configError(['METRICS_TOKEN'], /METRICS_TOKEN must be at least 16 characters/));
  });

  it('names every missing dashboard credential at once', () => {
    expect(() => loadConfig({ API_TOKEN: valid.API_TOKEN })).toThrow(configError(['DASHBOARD_USER', 'DASHBOARD_PASSWORD']));
  });

  it('refuses a DASHBOARD_PASSWORD shorter than 12 characters', () => {
    expect(() => loadConfig({ ...valid, DASHBOARD_PASSWORD: 'hunter2' })).toThrow(
      configError(['DASHBOARD_PASSWORD'], /DASHBOARD_PASSWORD must be at least 12 characters/),
    );
  });

  it("refuses a DASHBOARD_USER containing ':'", () => {
    expect(() => loadConfig({ ...valid, DASHBOARD_USER: 'a:b' })).toThrow(configError(['DASHBOARD_USER'], /DASHBOARD_USER must not contain ':'/));
  });

  it('refuses a PORT that is not a port number', () => {
    expect(() => loadConfig({ ...valid, PORT: 'eighty' })).toThrow(configError(['PORT']));
    expect(() => loadConfig({ ...valid, PORT: '70000' })).toThrow(configError(['PORT']));
  });

  it('refuses a PUBLIC_URL that is not an http(s) URL', () => {
    expect(() => loadConfig({ ...valid, PUBLIC_URL: 'ftp://example.com' })).toThrow(configError(['PUBLIC_URL']));
    expect(loadConfig({ ...valid, PUBLIC_URL: 'https://jobs.example.com' }).PUBLIC_URL).toBe('https://jobs.example.com');
  });
});

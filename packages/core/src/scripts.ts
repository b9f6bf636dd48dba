import { readFileSync } from 'node:fs';
import type { RedisConnection } from './redis.js';

type Script = (keys: string[], args: (string | number)[]) => Promise<unknown>;

/**
 * Loads a Lua script from `lua/<name>.lua` (next to the compiled module) once per connection with
 * ioredis' `defineCommand`, which runs it by SHA and reloads it if Redis restarted.
 */
export function luaScript(redis: RedisConnection, name: string, dir: URL = new URL('./lua/', import.meta.url)): Script {
  const command = `drumline_${name.replaceAll('-', '_')}`;
  const client = redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>;
  if (typeof client[command] !== 'function') {
    redis.defineCommand(command, { lua: readFileSync(new URL(`${name}.lua`, dir), 'utf8') });
  }
  return (keys, args) => (client[command] as (...a: (string | number)[]) => Promise<unknown>)(keys.length, ...keys, ...args);
}

import { readFileSync } from 'node:fs';
import type { RedisConnection } from './redis.js';

type Script = (keys: string[], args: (string | number)[]) => Promise<unknown>;

const CORE_LUA = new URL('./lua/', import.meta.url);

/** Lua functions shared by several scripts, prepended to those that name them (Redis scripts cannot import). */
export type LuaLibrary = 'tick-ledger';

/**
 * Loads a Lua script from `lua/<name>.lua` (next to the compiled module) once per connection with
 * ioredis' `defineCommand`, which runs it by SHA and reloads it if Redis restarted. The `libraries`
 * (core's `lua/<library>.lua`) are prepended to it.
 */
export function luaScript(redis: RedisConnection, name: string, dir: URL = CORE_LUA, libraries: readonly LuaLibrary[] = []): Script {
  const command = `drumline_${name.replaceAll('-', '_')}`;
  const client = redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>;
  if (typeof client[command] !== 'function') {
    const sources = [...libraries.map((library) => new URL(`${library}.lua`, CORE_LUA)), new URL(`${name}.lua`, dir)];
    redis.defineCommand(command, { lua: sources.map((source) => readFileSync(source, 'utf8')).join('\n') });
  }
  return (keys, args) => (client[command] as (...a: (string | number)[]) => Promise<unknown>)(keys.length, ...keys, ...args);
}

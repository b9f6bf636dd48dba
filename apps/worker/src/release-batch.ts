import { keyLayoutOf, luaScript, type RedisConnection } from '@drumline/core/runtime';

interface Release {
  slots: string;
  line: string;
  holder: string;
  limit: number;
  resolve: (heads: string[]) => void;
  reject: (error: unknown) => void;
}

/** Redis serves nobody else while a script runs: a release call stays short however many end at once. */
const MAX_PER_CALL = 200;

/**
 * Gives back the flow places of the runs that end in one turn of the event loop in one script call
 * (lua/flow-release.lua), each answered with the heads of its line: a release per run was a command
 * per run, encoded, written and answered on its own. On a Redis Cluster, where each key's places
 * are in a slot of their own, each release is its own call.
 */
export class ReleaseBatch {
  private readonly script;
  private readonly oneSlotPerCall: boolean;
  private pending: Release[] = [];

  constructor(redis: RedisConnection) {
    this.script = luaScript(redis, 'flow-release');
    this.oneSlotPerCall = keyLayoutOf(redis) === 'cluster';
  }

  /** Gives back `holder`'s place ('' for none) and resolves with the runs at the head of the line that may now take one. */
  release(slots: string, line: string, holder: string, limit: number): Promise<string[]> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.flush());
      this.pending.push({ slots, line, holder, limit, resolve, reject });
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    const size = this.oneSlotPerCall ? 1 : MAX_PER_CALL;
    for (let start = 0; start < batch.length; start += size) this.send(batch.slice(start, start + size));
  }

  private send(part: Release[]): void {
    const keys = part.flatMap(({ slots, line }) => [slots, line]);
    const args = [Date.now(), ...part.flatMap(({ holder, limit }) => [holder, limit])];
    this.script(keys, args).then(
      (replies) => part.forEach(({ resolve }, index) => resolve((replies as string[][])[index] ?? [])),
      (error: unknown) => part.forEach(({ reject }) => reject(error)),
    );
  }
}

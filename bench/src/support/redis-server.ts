import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@drumline/test-redis';
import type { RedisConnection } from '@drumline/core/runtime';
import { Redis } from 'ioredis';

export { freePort };

/**
 * A Redis the benchmark's processes use (one server, a Sentinel topology or a cluster): the env that
 * tells an app (or a bare baseline process) how to reach it, and the benchmark's own client of it,
 * for setting up, counting and polling.
 */
export interface RedisTarget {
  env(): Record<string, string>;
  readonly client: RedisConnection;
}

/**
 * The benchmark's own `redis-server`, on a free port, without persistence, so no other Redis on the
 * machine is touched and no fork for RDB snapshots skews a figure.
 */
export class RedisServer implements RedisTarget {
  private constructor(
    readonly url: string,
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
    /** A plain connection for the benchmark's own bookkeeping: flushing, counting, polling. */
    readonly client: Redis,
  ) {}

  static async start(): Promise<RedisServer> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'drumline-bench-redis-'));
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const url = `redis://127.0.0.1:${port}`;
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: () => 50 });
    // Refused connections while redis-server boots are expected: the loop below retries them.
    client.on('error', () => undefined);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await client.connect();
        await client.ping();
        break;
      } catch (error) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start on port ${port}: ${(error as Error).message}`);
        client.disconnect();
        await sleep(50);
      }
    }
    return new RedisServer(url, port, child, dir, client);
  }

  /** How the apps reach it. */
  env(): Record<string, string> {
    return { REDIS_URL: this.url };
  }

  async version(): Promise<string> {
    const info = await this.client.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  }

  /** Empties Redis between runs so each starts from the same state and memory stays flat. */
  async flush(): Promise<void> {
    await this.client.flushall();
  }

  async stop(): Promise<void> {
    this.client.disconnect();
    this.child.kill('SIGKILL');
    await new Promise((resolve) => (this.child.exitCode !== null ? resolve(undefined) : this.child.once('exit', resolve)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './processes.js';

/**
 * A `redis-server` of a test's own, for tests that stop or restart Redis: a free port and a data
 * directory that outlives restarts, with the append-only file on as docker-compose.yml runs it.
 */
export class OwnRedisServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<OwnRedisServer> {
    const server = new OwnRedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'drumline-test-redis-')));
    await server.restart();
    return server;
  }

  /** Starts redis-server on the same port and directory: it loads what the append-only file holds. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is still running; stop it first');
    this.child = await startRedisProcess(this.port, ['--dir', this.dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec']);
  }

  /** SIGTERM, as `docker compose stop` sends: Redis flushes the append-only file and exits. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  /** Stops it and deletes its data, for an afterAll. */
  async destroy(): Promise<void> {
    this.child?.kill('SIGKILL');
    this.child = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface RedisProcessOptions {
  /** `--requirepass`, sent when probing it. */
  password?: string;
  /** `redis-server <config file> --sentinel`. */
  sentinel?: boolean;
  /** Probe with PING, not a key read: a sentinel has no keys, a cluster node no slots yet. */
  ping?: boolean;
}

/**
 * Spawns `redis-server --port <port> --bind 127.0.0.1 <args...>` and resolves once it answers,
 * with its data loaded; fails if it exits or does not answer within 10 s.
 */
export async function startRedisProcess(port: number, args: string[], options: RedisProcessOptions = {}): Promise<ChildProcess> {
  const child = spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1', ...(options.sentinel ? ['--sentinel'] : [])], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, ...(options.password ? { password: options.password } : {}) });
  client.on('error', () => undefined); // refused while it boots; the loop retries
  const deadline = Date.now() + 10_000;
  try {
    for (;;) {
      try {
        await client.connect();
        // LOADING errors answer PING until the AOF is read back; a key read proves it is done.
        if (options.sentinel || options.ping) await client.ping();
        else await client.get('drumline-test-probe');
        return child;
      } catch (error) {
        if (Date.now() > deadline || child.exitCode !== null) {
          child.kill('SIGKILL');
          throw new Error(`redis-server did not start on port ${port}: ${(error as Error).message}`);
        }
        client.disconnect();
        await sleep(50);
      }
    }
  } finally {
    client.disconnect();
  }
}

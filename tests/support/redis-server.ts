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
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    this.child = child;
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    client.on('error', () => undefined); // refused while it boots; the loop retries
    const deadline = Date.now() + 10_000;
    try {
      for (;;) {
        try {
          await client.connect();
          // LOADING errors answer PING until the AOF is read back; a key read proves it is done.
          await client.get('drumline-test-probe');
          return;
        } catch (error) {
          if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start on port ${this.port}: ${(error as Error).message}`);
          client.disconnect();
          await sleep(50);
        }
      }
    } finally {
      client.disconnect();
    }
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

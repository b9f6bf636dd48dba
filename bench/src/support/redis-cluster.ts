import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { freePort } from './redis-server.js';

/**
 * The benchmark's own Redis Cluster: `primaries` redis-server processes with cluster mode on, no
 * replicas and no persistence, on free loopback ports, joined by `redis-cli --cluster create`.
 */
export class BenchCluster {
  private constructor(
    private readonly ports: number[],
    private readonly children: ChildProcess[],
    private readonly dir: string,
    /** A cluster client for the benchmark's own bookkeeping: filling queues, counting, flushing. */
    readonly client: Cluster,
  ) {}

  static async start(primaries = 3): Promise<BenchCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'drumline-bench-cluster-'));
    const ports: number[] = [];
    const children: ChildProcess[] = [];
    const stopAll = () => children.forEach((child) => child.kill('SIGKILL'));
    try {
      for (let index = 0; index < primaries; index += 1) {
        // The cluster bus on a port of its own: the default (port + 10000) may be taken or too high.
        const [port, bus] = [await freePort(), await freePort()];
        const data = join(dir, String(port));
        mkdirSync(data);
        const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-port', String(bus)];
        children.push(spawn('redis-server', [...args, '--cluster-config-file', join(data, 'nodes.conf'), '--dir', data, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'ignore', 'inherit'] }));
        ports.push(port);
      }
      const addresses = ports.map((port) => `127.0.0.1:${port}`);
      const deadline = Date.now() + 20_000;
      // redis-cli refuses nodes that do not answer yet: try until they all do.
      for (;;) {
        try {
          await promisify(execFile)('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-yes']);
          break;
        } catch (error) {
          if (Date.now() > deadline) throw new Error(`redis-cli --cluster create failed: ${(error as Error).message}`);
          await sleep(100);
        }
      }
      const client = new Cluster(
        ports.map((port) => ({ host: '127.0.0.1', port })),
        { redisOptions: { maxRetriesPerRequest: null } },
      );
      const cluster = new BenchCluster(ports, children, dir, client);
      await cluster.untilServing(deadline);
      return cluster;
    } catch (error) {
      stopAll();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** How the apps reach it. */
  env(): Record<string, string> {
    return { REDIS_CLUSTER_NODES: this.ports.map((port) => `127.0.0.1:${port}`).join(',') };
  }

  /** Empties every primary between runs. */
  async flush(): Promise<void> {
    await Promise.all(this.client.nodes('master').map((node) => node.flushall()));
  }

  async stop(): Promise<void> {
    this.client.disconnect();
    await Promise.all(
      this.children.map((child) => {
        const exited = new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
        child.kill('SIGKILL');
        return exited;
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Until every primary says the cluster is ok and the client knows them all. */
  private async untilServing(deadline: number): Promise<void> {
    for (;;) {
      const masters = this.client.status === 'ready' ? this.client.nodes('master') : [];
      const states = await Promise.all(masters.map((node) => node.cluster('INFO').catch(() => '')));
      if (masters.length === this.ports.length && states.every((info) => info.includes('cluster_state:ok'))) return;
      if (Date.now() > deadline) throw new Error(`the bench cluster was not serving within 20 s (${states.length} primaries known)`);
      await sleep(100);
    }
  }
}

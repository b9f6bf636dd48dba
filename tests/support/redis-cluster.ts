import { execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './processes.js';
import { startRedisProcess } from './redis-server.js';

export interface OwnRedisClusterOptions {
  /** Shards (default 3). */
  primaries?: number;
  /** Replicas of each primary (default 0); one each to fail a primary over. */
  replicas?: number;
  /** `cluster-node-timeout`: how long a primary may not answer before its replica takes over (default 2000 ms). */
  nodeTimeoutMs?: number;
}

interface Node {
  port: number;
  child: ChildProcess;
}

/**
 * A Redis Cluster of a test file's own: `redis-server --cluster-enabled yes` on free loopback
 * ports, joined with `redis-cli --cluster create`. Resolves once every node sees every slot served
 * and every replica is in sync with its primary. One per test file: it takes a few seconds to form.
 */
export class OwnRedisCluster {
  private constructor(
    private readonly nodes: Node[],
    private readonly dir: string,
  ) {}

  static async start(options: OwnRedisClusterOptions = {}): Promise<OwnRedisCluster> {
    const count = (options.primaries ?? 3) * (1 + (options.replicas ?? 0));
    const dir = mkdtempSync(join(tmpdir(), 'drumline-test-cluster-'));
    const cluster = new OwnRedisCluster([], dir);
    try {
      // Each node's cluster bus gets a port of its own: the default, port + 10000, may be taken or past 65535.
      const ports = await Promise.all(Array.from({ length: 2 * count }, () => freePort()));
      if (new Set(ports).size < ports.length) throw new Error('the OS gave the same free port twice; try again');
      const started = Array.from({ length: count }, async (_, index) => {
        const [port, busPort] = [ports[2 * index] as number, ports[2 * index + 1] as number];
        const data = join(dir, String(port));
        mkdirSync(data);
        const args = [
          ...['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', join(data, 'nodes.conf')],
          ...['--cluster-node-timeout', String(options.nodeTimeoutMs ?? 2000), '--dir', data, '--save', '', '--appendonly', 'no'],
        ];
        const node = { port, child: await startRedisProcess(port, args, { ping: true }) };
        cluster.nodes.push(node);
        return node;
      });
      const results = await Promise.allSettled(started);
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
      cluster.nodes.sort((a, b) => a.port - b.port);
      const addresses = cluster.nodes.map(({ port }) => `127.0.0.1:${port}`);
      await promisify(execFile)('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(options.replicas ?? 0), '--cluster-yes']);
      await cluster.untilServing();
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  /** REDIS_CLUSTER_NODES, as an app takes it: every node (a client needs only some). */
  env(): { REDIS_CLUSTER_NODES: string } {
    return { REDIS_CLUSTER_NODES: this.nodes.map(({ port }) => `127.0.0.1:${port}`).join(',') };
  }

  /** A cluster client for a test's set-up and checks. */
  connect(): Cluster {
    return new Cluster(
      this.nodes.map(({ port }) => ({ host: '127.0.0.1', port })),
      { redisOptions: { maxRetriesPerRequest: null } },
    );
  }

  /** The port of the primary that serves `key`'s slot now, as the cluster itself says. */
  async primaryPortOf(key: string): Promise<number> {
    return this.withLiveNode(async (node) => {
      const slot = (await node.call('CLUSTER', 'KEYSLOT', key)) as number;
      const ranges = (await node.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
      const range = ranges.find(([from, to]) => from <= slot && slot <= to);
      if (!range) throw new Error(`no node serves slot ${slot} of ${key}`);
      return range[2][1];
    });
  }

  /** kill -9 of the node on `port`: it gets no chance to hand anything over. */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((candidate) => candidate.port === port);
    if (!node) throw new Error(`no node of this cluster listens on ${port}`);
    if (node.child.exitCode !== null || node.child.signalCode !== null) return;
    const exited = new Promise((resolve) => node.child.once('exit', resolve));
    node.child.kill('SIGKILL');
    await exited;
  }

  /** Resolves once the live nodes serve every slot again (a replica has taken over for a dead primary), failing after `timeoutMs`. */
  async untilServing(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    for (;;) {
      try {
        const states = await Promise.all(this.live().map((port) => this.ask(port, (node) => node.cluster('INFO'))));
        const served = await this.withLiveNode(async (node) => (await node.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][]);
        const alive = new Set(this.live());
        const slots = served.filter(([, , [, port]]) => alive.has(port)).reduce((sum, [from, to]) => sum + to - from + 1, 0);
        const replicasInSync = await this.replicasInSync();
        if (states.every((info) => info.includes('cluster_state:ok')) && slots === 16_384 && replicasInSync) return;
        last = `states ok: ${states.filter((info) => info.includes('cluster_state:ok')).length}/${states.length}, slots on live primaries: ${slots}, replicas in sync: ${replicasInSync}`;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`the cluster did not serve every slot within ${timeoutMs} ms (${last})`);
      await sleep(100);
    }
  }

  /** Kills every node and deletes their data, for an afterAll. */
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map(({ port }) => this.kill(port)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private live(): number[] {
    return this.nodes.filter(({ child }) => child.exitCode === null && child.signalCode === null).map(({ port }) => port);
  }

  private async replicasInSync(): Promise<boolean> {
    const replication = await Promise.all(this.live().map((port) => this.ask(port, (node) => node.info('replication'))));
    return replication.filter((info) => info.includes('role:slave')).every((info) => info.includes('master_link_status:up'));
  }

  private withLiveNode<T>(work: (node: Redis) => Promise<T>): Promise<T> {
    const port = this.live()[0];
    if (port === undefined) throw new Error('no node of the cluster is alive');
    return this.ask(port, work);
  }

  /** One question to one node, on a connection of its own that does not follow redirections. */
  private async ask<T>(port: number, work: (node: Redis) => Promise<T>): Promise<T> {
    const node = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
    node.on('error', () => undefined);
    try {
      await node.connect();
      return await work(node);
    } finally {
      node.disconnect();
    }
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';

/** The master name the sentinels of a ReplicatedRedis watch. */
export const SENTINEL_MASTER_NAME = 'drumline';

/** One redis-server process of a topology: a data node or a sentinel, on a loopback port of its own. */
export class RedisNode {
  private child: ChildProcess | undefined;

  constructor(
    readonly role: string,
    readonly port: number,
    private readonly args: string[],
    /** Its `requirepass`, which this class's own clients send. */
    private readonly password?: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.role} on ${this.port} is running already`);
    const child = spawn('redis-server', this.args, { stdio: ['ignore', 'ignore', 'inherit'] });
    this.child = child;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const client = connect(this.port, this.password);
      try {
        await client.ping();
        return;
      } catch (error) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${this.role} did not start on port ${this.port}: ${(error as Error).message}`);
        await sleep(50);
      } finally {
        client.disconnect();
      }
    }
  }

  /** kill -9: the process dies at once, with whatever it had not replicated. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGSTOP: it keeps its connections but answers nothing, as a host that hangs. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** A short-lived client of this node, closed after `use`. */
  async ask<T>(use: (client: Redis) => Promise<T>): Promise<T> {
    const client = connect(this.port, this.password);
    try {
      return await use(client);
    } finally {
      client.disconnect();
    }
  }
}

function connect(port: number, password?: string): Redis {
  const client = new Redis({ host: '127.0.0.1', port, ...(password ? { password } : {}), lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => null, enableOfflineQueue: true });
  client.on('error', () => undefined); // refused while a node boots or after it died; callers see the rejection
  return client;
}

export interface ReplicatedRedisOptions {
  replicas?: number;
  /** Sentinels watching the primary under SENTINEL_MASTER_NAME, with a quorum of a majority; 0 for none. */
  sentinels?: number;
  /** How long a primary may not answer before a sentinel deems it down. */
  downAfterMs?: number;
  /** Sentinel's `failover-timeout`: how long a failover may take before another sentinel tries; 4 × downAfterMs unless given. */
  failoverTimeoutMs?: number;
  /** `requirepass` and `masterauth` of the data nodes (REDIS_PASSWORD), which the sentinels are told too. */
  password?: string;
  /** `requirepass` of the sentinels (REDIS_SENTINEL_PASSWORD). */
  sentinelPassword?: string;
}

/**
 * A primary, its replicas and optionally sentinels, all real redis-server processes on free loopback
 * ports, with nothing kept on disk but the sentinels' config (which Sentinel rewrites as it learns).
 * Replication is asynchronous, as in production: `pause` a replica to make it fall behind.
 */
export class ReplicatedRedis {
  private constructor(
    readonly primary: RedisNode,
    readonly replicas: RedisNode[],
    readonly sentinels: RedisNode[],
    private readonly dir: string,
  ) {}

  static async start({ replicas = 1, sentinels = 0, downAfterMs = 1000, failoverTimeoutMs = downAfterMs * 4, password, sentinelPassword }: ReplicatedRedisOptions = {}): Promise<ReplicatedRedis> {
    const dir = mkdtempSync(join(tmpdir(), 'drumline-replicated-'));
    const auth = password ? ['--requirepass', password, '--masterauth', password] : [];
    const dataArgs = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', ...auth];
    const primaryPort = await freePort();
    const primary = new RedisNode('primary', primaryPort, dataArgs(primaryPort), password);
    const replicaNodes: RedisNode[] = [];
    for (let i = 0; i < replicas; i += 1) {
      const port = await freePort();
      replicaNodes.push(new RedisNode(`replica ${i + 1}`, port, [...dataArgs(port), '--replicaof', '127.0.0.1', String(primaryPort)], password));
    }
    const sentinelNodes: RedisNode[] = [];
    for (let i = 0; i < sentinels; i += 1) {
      const port = await freePort();
      const config = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        config,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${primaryPort} ${Math.floor(sentinels / 2) + 1}`,
          `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${downAfterMs}`,
          `sentinel failover-timeout ${SENTINEL_MASTER_NAME} ${failoverTimeoutMs}`,
          `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
          ...(password ? [`sentinel auth-pass ${SENTINEL_MASTER_NAME} ${password}`] : []),
          ...(sentinelPassword ? [`requirepass ${sentinelPassword}`] : []),
          '',
        ].join('\n'),
      );
      sentinelNodes.push(new RedisNode(`sentinel ${i + 1}`, port, [config, '--sentinel'], sentinelPassword));
    }
    const topology = new ReplicatedRedis(primary, replicaNodes, sentinelNodes, dir);
    try {
      await primary.start();
      for (const replica of replicaNodes) await replica.start();
      await topology.untilReplicasInSync();
      for (const sentinel of sentinelNodes) await sentinel.start();
      if (sentinelNodes.length > 0) await topology.untilSentinelsSee(primary, replicaNodes.length);
    } catch (error) {
      await topology.destroy();
      throw error;
    }
    return topology;
  }

  /** The sentinels' addresses, as REDIS_SENTINELS takes them. */
  get sentinelAddresses(): string {
    return this.sentinels.map((sentinel) => sentinel.address).join(',');
  }

  /** Every data node: the one started as primary, then the replicas (any of them may be primary after a failover). */
  get dataNodes(): RedisNode[] {
    return [this.primary, ...this.replicas];
  }

  /**
   * Waits until every other running data node is a replica connected to `primary` and holds all
   * that `primary` had written when this was called. Not "the same offset": under a steady write
   * load the offsets a primary shows (its replicas acknowledge once a second) are rarely equal.
   */
  async untilReplicasInSync(primary = this.primary, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const replicas = this.dataNodes.filter((node) => node !== primary && node.running);
    const written = Number(/master_repl_offset:(\d+)/.exec(await primary.ask((client) => client.info('replication')))?.[1] ?? Number.NaN);
    for (;;) {
      const info = await primary.ask((client) => client.info('replication'));
      const inSync = replicas.filter((replica) => {
        const acknowledged = new RegExp(`slave\\d+:ip=127\\.0\\.0\\.1,port=${replica.port},state=online,offset=(\\d+)`).exec(info)?.[1];
        return acknowledged !== undefined && Number(acknowledged) >= written;
      });
      if (inSync.length === replicas.length) return;
      if (Date.now() > deadline) throw new Error(`replicas not in sync with ${primary.role} on ${primary.port} (offset ${written}) within ${timeoutMs} ms:\n${info}`);
      await sleep(50);
    }
  }

  /** Waits until every sentinel names `primary` as the master and knows `replicas` replicas that are up (not down or disconnected). */
  async untilSentinelsSee(primary: RedisNode, replicas: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { sees, views } = await this.sentinelsSee(primary, replicas);
      if (sees) return;
      if (Date.now() > deadline) throw new Error(`the sentinels did not all see ${primary.role} on ${primary.port} as master with ${replicas} replicas up within ${timeoutMs} ms: ${views}`);
      await sleep(100);
    }
  }

  /** Whether every running sentinel names `primary` as the master and knows `replicas` replicas of it that are up, and what each sees. */
  private async sentinelsSee(primary: RedisNode, replicas: number): Promise<{ sees: boolean; views: string }> {
    const views = await Promise.all(
      this.sentinels
        .filter((sentinel) => sentinel.running)
        .map((sentinel) =>
          sentinel
            .ask(async (client) => {
              const master = (await client.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME)) as string[] | null;
              const known = (await client.call('SENTINEL', 'replicas', SENTINEL_MASTER_NAME)) as string[][];
              // Each replica is a flat list of fields and values; a healthy one's `flags` is just `slave`.
              const field = (fields: string[], name: string) => fields[fields.indexOf(name) + 1];
              const up = known.filter((fields) => field(fields, 'flags') === 'slave');
              const view = `${sentinel.role} names ${master?.[1]}, replicas ${known.map((fields) => `${field(fields, 'port')} (${field(fields, 'flags')})`).join(', ')}`;
              return { sees: master?.[1] === String(primary.port) && up.length >= replicas, view };
            })
            .catch((error: Error) => ({ sees: false, view: `${sentinel.role}: ${error.message}` })),
        ),
    );
    return { sees: views.every((view) => view.sees), views: views.map((view) => view.view).join('; ') };
  }

  /** The data node the sentinels name as master now (undefined while they disagree or none answers). */
  async currentPrimary(): Promise<RedisNode | undefined> {
    const ports = await Promise.all(
      this.sentinels
        .filter((sentinel) => sentinel.running)
        .map((sentinel) => sentinel.ask((client) => client.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME) as Promise<string[] | null>).catch(() => null)),
    );
    const named = new Set(ports.map((address) => address?.[1]));
    if (named.size !== 1) return undefined;
    const [port] = [...named];
    return this.dataNodes.find((node) => String(node.port) === port);
  }

  /**
   * Starts a dead data node again, as a crashed pod comes back, and waits until the topology is
   * whole again (see untilSettled); returns the primary then. The node boots with its arguments of
   * old (a primary, or a replica of a node that may no longer be one) and with the snapshot of its
   * last full sync as a replica, if it had one: nothing of it survives the resync.
   */
  async rejoin(node: RedisNode, timeoutMs = 30_000): Promise<RedisNode> {
    await node.start();
    return this.untilSettled(timeoutMs);
  }

  /**
   * Waits until every sentinel names the same primary and sees every other running data node up as
   * its replica, and those hold all it had written; returns that primary. Whichever it is: the
   * primary may change meanwhile, when a sentinel that could not reach a just-promoted primary for
   * down-after-milliseconds (a busy machine) fails over again, even to the node that just came back.
   */
  async untilSettled(timeoutMs = 30_000): Promise<RedisNode> {
    const deadline = Date.now() + timeoutMs;
    let last = 'the sentinels agree on no primary';
    for (;;) {
      const primary = await this.currentPrimary();
      if (primary) {
        const seen = await this.sentinelsSee(primary, this.dataNodes.filter((node) => node.running).length - 1);
        last = seen.views;
        if (seen.sees) {
          try {
            await this.untilReplicasInSync(primary, Math.max(1000, Math.min(5000, deadline - Date.now())));
            return primary;
          } catch (error) {
            last = (error as Error).message;
          }
        }
      }
      if (Date.now() > deadline) throw new Error(`the topology was not whole again within ${timeoutMs} ms: ${last}`);
      await sleep(100);
    }
  }

  /**
   * Makes `replica` fall behind for good: it stops (SIGSTOP), and the primary drops its link, so
   * what the primary writes from now on never reaches it (a mere pause would not do: what was sent
   * waits in the socket and arrives when it resumes). Resume it to let it reconnect.
   */
  async cutOff(replica: RedisNode): Promise<void> {
    replica.pause();
    await this.primary.ask((client) => client.call('CLIENT', 'KILL', 'TYPE', 'replica'));
  }

  /** Kills every process and deletes the directory, for an afterAll. */
  async destroy(): Promise<void> {
    for (const node of [...this.sentinels, ...this.replicas, this.primary]) {
      node.resume();
      await node.kill();
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './processes.js';
import { startRedisProcess } from './redis-server.js';

export interface SentinelGroupOptions {
  /** The name the sentinels monitor the primary under (REDIS_SENTINEL_NAME). */
  name?: string;
  /** `requirepass` (and `masterauth`) of the primary and its replica: REDIS_PASSWORD. */
  password?: string;
  /** `requirepass` of the sentinels: REDIS_SENTINEL_PASSWORD. */
  sentinelPassword?: string;
  /** How many sentinels (default 1; the quorum is a majority of them). */
  sentinels?: number;
}

/**
 * A primary, a replica of it and sentinels monitoring them, each a `redis-server` of its own on a
 * free loopback port, for tests that reach Redis through Sentinel. Resolves once the replica is in
 * sync and every sentinel knows the primary and the replica.
 */
export class SentinelGroup {
  private constructor(
    readonly name: string,
    readonly primaryPort: number,
    readonly replicaPort: number,
    readonly sentinelPorts: number[],
    private readonly options: SentinelGroupOptions,
    private readonly dir: string,
    private readonly children: ChildProcess[],
  ) {}

  static async start(options: SentinelGroupOptions = {}): Promise<SentinelGroup> {
    const name = options.name ?? 'drumline-test-primary';
    const dir = mkdtempSync(join(tmpdir(), 'drumline-test-sentinel-'));
    const [primaryPort, replicaPort, ...sentinelPorts] = await Promise.all(Array.from({ length: 2 + (options.sentinels ?? 1) }, () => freePort()));
    const children: ChildProcess[] = [];
    const group = new SentinelGroup(name, primaryPort as number, replicaPort as number, sentinelPorts, options, dir, children);
    try {
      const auth = options.password ? ['--requirepass', options.password, '--masterauth', options.password] : [];
      const data = (port: number) => ['--dir', mkdtempSync(join(dir, `node-${port}-`)), '--save', '', '--appendonly', 'no', ...auth];
      children.push(await startRedisProcess(group.primaryPort, data(group.primaryPort), { password: options.password }));
      children.push(await startRedisProcess(group.replicaPort, [...data(group.replicaPort), '--replicaof', '127.0.0.1', String(group.primaryPort)], { password: options.password }));
      for (const port of sentinelPorts) {
        // A sentinel rewrites its config file, so each has one of its own.
        const config = join(dir, `sentinel-${port}.conf`);
        const quorum = Math.floor(sentinelPorts.length / 2) + 1;
        writeFileSync(
          config,
          [
            `sentinel monitor ${name} 127.0.0.1 ${group.primaryPort} ${quorum}`,
            `sentinel down-after-milliseconds ${name} 1000`,
            `sentinel failover-timeout ${name} 5000`,
            ...(options.password ? [`sentinel auth-pass ${name} ${options.password}`] : []),
            ...(options.sentinelPassword ? [`requirepass ${options.sentinelPassword}`] : []),
            '',
          ].join('\n'),
        );
        children.push(await startRedisProcess(port, [config], { sentinel: true, password: options.sentinelPassword }));
      }
      await group.untilReady();
    } catch (error) {
      await group.destroy();
      throw error;
    }
    return group;
  }

  /** REDIS_SENTINELS, REDIS_SENTINEL_NAME and the passwords, as an app takes them. */
  env(): Record<string, string> {
    return {
      REDIS_SENTINELS: this.sentinelPorts.map((port) => `127.0.0.1:${port}`).join(','),
      REDIS_SENTINEL_NAME: this.name,
      ...(this.options.sentinelPassword ? { REDIS_SENTINEL_PASSWORD: this.options.sentinelPassword } : {}),
      ...(this.options.password ? { REDIS_PASSWORD: this.options.password } : {}),
    };
  }

  /** A client of one data node, directly (not through the sentinels), for checks. */
  connectNode(port: number): Redis {
    return new Redis(port, '127.0.0.1', { maxRetriesPerRequest: null, ...(this.options.password ? { password: this.options.password } : {}) });
  }

  /** Kills every process and deletes their data, for an afterAll. */
  async destroy(): Promise<void> {
    await Promise.all(
      this.children.splice(0).map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        return exited;
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async untilReady(): Promise<void> {
    const replica = this.connectNode(this.replicaPort);
    const sentinels = this.sentinelPorts.map(
      (port) => new Redis(port, '127.0.0.1', { maxRetriesPerRequest: null, ...(this.options.sentinelPassword ? { password: this.options.sentinelPassword } : {}) }),
    );
    const deadline = Date.now() + 30_000;
    let last = '';
    try {
      for (;;) {
        const replication = await replica.info('replication');
        const known = await Promise.all(
          sentinels.map(async (sentinel) => {
            const primary = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', this.name)) as string[] | null;
            const replicas = (await sentinel.call('SENTINEL', 'replicas', this.name)) as unknown[];
            return primary?.[1] === String(this.primaryPort) && replicas.length > 0;
          }),
        );
        if (replication.includes('master_link_status:up') && known.every(Boolean)) return;
        last = `replica in sync: ${replication.includes('master_link_status:up')}, sentinels that know both: ${known.filter(Boolean).length}/${known.length}`;
        if (Date.now() > deadline) throw new Error(`the sentinel group did not come up within 30 s (${last})`);
        await sleep(100);
      }
    } finally {
      replica.disconnect();
      for (const sentinel of sentinels) sentinel.disconnect();
    }
  }
}

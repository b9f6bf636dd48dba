import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root, from bench/dist/support/. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The built entry points the benchmark starts, as `node <entry>` (compose does the same). */
export const entries = {
  web: `${REPO_ROOT}apps/web/dist/main.js`,
  worker: `${REPO_ROOT}apps/worker/dist/main.js`,
  scheduler: `${REPO_ROOT}apps/scheduler/dist/main.js`,
  bareWorker: fileURLToPath(new URL('../baseline/bare-worker.js', import.meta.url)),
  bareWeb: fileURLToPath(new URL('../baseline/bare-web.js', import.meta.url)),
  bareProducer: fileURLToPath(new URL('../baseline/bare-producer.js', import.meta.url)),
  scaleScheduler: fileURLToPath(new URL('../scale/scale-scheduler.js', import.meta.url)),
} as const;

/** A pino log line, or `{ msg: <raw line> }` for anything else a process printed. */
export type LogLine = Record<string, unknown> & { msg?: string };

const CLOCK_TICKS_PER_SECOND = 100;
const live = new Set<NodeProcess>();

// A scenario that throws must not leave processes behind: the benchmark may run again at once.
process.once('exit', () => {
  for (const child of live) child.child.kill('SIGKILL');
});

/** A Node process the benchmark started: its log lines, waits on them, its memory and CPU time. */
export class NodeProcess {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<number | string>;
  private waiters = new Set<() => void>();

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    live.add(this);
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8').on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        for (const text of parts) if (text.trim()) this.lines.push(parse(text));
        for (const waiter of this.waiters) waiter();
      });
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(this);
        for (const waiter of this.waiters) waiter();
        resolve(signal ?? code ?? -1);
      });
    });
  }

  /** Starts `node <entry>` with only PATH and `env`, as an orchestrator would. */
  static start(name: string, entry: string, env: Record<string, string>, nodeArgs: string[] = []): NodeProcess {
    // BENCH_NODE_ARGS reach the apps only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them.
    const extraArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    // BENCH_APP_ENV adds variables to every process started, e.g. `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`
    // to measure with tracing on (the baselines read none of Drumline's variables).
    const extraEnv = Object.fromEntries((process.env.BENCH_APP_ENV?.split(' ').filter(Boolean) ?? []).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
    const child = spawn(process.execPath, [...extraArgs, ...nodeArgs, entry], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production', ...env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new NodeProcess(name, child);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid: it did not start`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first log line (already printed or to come) that matches, or rejects at the deadline. */
  waitFor(match: (line: LogLine) => boolean, timeoutMs: number, what = 'the expected log line'): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      let seen = 0;
      const check = () => {
        for (; seen < this.lines.length; seen += 1) {
          const line = this.lines[seen] as LogLine;
          if (match(line)) return done(() => resolve(line));
        }
        if (!this.running) done(() => reject(new Error(`${this.name} exited before ${what}; last output:\n${this.tail()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms; last output:\n${this.tail()}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  waitForMsg(msg: string | RegExp, timeoutMs: number): Promise<LogLine> {
    return this.waitFor((line) => (typeof msg === 'string' ? line.msg === msg : msg.test(line.msg ?? '')), timeoutMs, `log "${String(msg)}"`);
  }

  /** Resident set size now, in bytes (VmRSS of /proc/<pid>/status). */
  rssBytes(): number {
    return statusField(this.pid, 'VmRSS');
  }

  /** Peak resident set size so far, in bytes (VmHWM). */
  peakRssBytes(): number {
    return statusField(this.pid, 'VmHWM');
  }

  /** User plus system CPU time used so far, in ms (/proc/<pid>/stat). */
  cpuMs(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the command name.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  }

  tail(count = 15): string {
    return this.lines
      .slice(-count)
      .map((line) => JSON.stringify(line))
      .join('\n');
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

function parse(text: string): LogLine {
  if (text.startsWith('{')) {
    try {
      return JSON.parse(text) as LogLine;
    } catch {
      // Not JSON after all: keep it as raw text.
    }
  }
  return { msg: text };
}

function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
  if (kib === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(kib) * 1024;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

// One free-port helper for the tests and the bench, in the package that starts Redis topologies on such ports.
export { freePort } from '@drumline/test-redis';

/**
 * Helpers to run the built apps as separate processes, the way compose runs them
 * (`node apps/<app>/dist/main.js` with nothing but its environment), and to drive them as an
 * operator would: wait until ready, send SIGTERM, or kill -9.
 *
 *   const worker = startApp('worker', { REDIS_URL, KEY_PREFIX });
 *   await worker.waitForLog((log) => log.msg === 'worker ready');
 *   ...
 *   await worker.stop(); // SIGTERM, then waits for the exit
 *
 * The apps must be built first: `pnpm test` runs `turbo run build` before vitest.
 */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The jobs the started apps load (JOBS_MODULE): the framework's test jobs in tests/jobs, not the
 * user's packages/jobs, which may hold anything. An `env` with its own JOBS_MODULE wins.
 */
export const TEST_JOBS_MODULE = join(REPO_ROOT, 'tests/jobs/dist/index.js');

/** How a process ended: its exit code, or the signal that killed it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One line a process wrote, and where. */
export interface OutputLine {
  stream: 'stdout' | 'stderr';
  text: string;
}

/** A pino log line, parsed. */
export type LogRecord = Record<string, unknown> & { msg?: string; level?: number };

export interface StartAppOptions {
  /** Shown in failure messages; defaults to the app's name. Give two workers different names. */
  name?: string;
  /** Added to a minimal environment (PATH only), as compose's `environment:` would be. */
  env?: Record<string, string>;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const running = new Set<AppProcess>();

// A test that fails or times out must not leave apps running behind it.
process.once('exit', () => {
  for (const app of running) app.child.kill('SIGKILL');
});

/** A started app: its output so far, waits on it, and ways to end it. */
export class AppProcess {
  /** Every line written so far, stdout and stderr interleaved in arrival order. */
  readonly lines: OutputLine[] = [];
  /** Settles when the process has exited, however it ended. */
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const stream of ['stdout', 'stderr'] as const) {
      let partial = '';
      child[stream]?.setEncoding('utf8').on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        for (const text of parts) this.lines.push({ stream, text });
        this.notify();
      });
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        running.delete(this);
        this.notify();
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} did not start`);
    return this.child.pid;
  }

  /** How the process ended, or undefined while it runs. */
  get exitStatus(): Exit | undefined {
    return this.exit;
  }

  /** Everything the process wrote, for failure messages. */
  output(): string {
    return this.lines.map((line) => `[${this.name} ${line.stream}] ${line.text}`).join('\n');
  }

  /** The pino JSON lines written to stdout, parsed; other lines are left out. */
  logs(): LogRecord[] {
    const records: LogRecord[] = [];
    for (const line of this.lines) {
      if (line.stream !== 'stdout' || !line.text.startsWith('{')) continue;
      try {
        records.push(JSON.parse(line.text) as LogRecord);
      } catch {
        // Not a log line.
      }
    }
    return records;
  }

  /** Resolves with the first line (already written or still to come) that matches. */
  waitForLine(match: RegExp | ((line: OutputLine) => boolean), timeoutMs = DEFAULT_TIMEOUT_MS): Promise<OutputLine> {
    const test = typeof match === 'function' ? match : (line: OutputLine) => match.test(line.text);
    return this.waitUntil(() => this.lines.find(test), `a line matching ${String(match)}`, timeoutMs);
  }

  /** Resolves with the first pino log record that matches, for example `(log) => log.msg === 'worker ready'`. */
  waitForLog(match: (log: LogRecord) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<LogRecord> {
    return this.waitUntil(() => this.logs().find(match), `a log record matching ${String(match)}`, timeoutMs);
  }

  /** Polls `url` until it answers 200, and resolves with that response. Fails early if the process exits. */
  async waitForHttp(url: string | URL, timeoutMs = DEFAULT_TIMEOUT_MS, init?: RequestInit): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.exit) throw new Error(`${this.name} exited (${describe(this.exit)}) before ${url} answered 200\n${this.output()}`);
      try {
        const response = await fetch(url, { ...init, signal: AbortSignal.timeout(Math.max(1, Math.min(2_000, deadline - Date.now()))) });
        if (response.status === 200) return response;
        last = `status ${response.status}`;
        await response.body?.cancel();
      } catch (error) {
        last = (error as Error).message;
      }
      await sleep(100);
    }
    throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})\n${this.output()}`);
  }

  /** Sends SIGTERM and resolves once the process has exited; SIGKILLs it and fails if it takes longer than `timeoutMs`. */
  async stop(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Exit> {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const exit = await this.exited.finally(() => clearTimeout(timer));
    if (exit.signal === 'SIGKILL') throw new Error(`${this.name} did not exit within ${timeoutMs} ms of SIGTERM\n${this.output()}`);
    return exit;
  }

  /** kill -9: the process gets no chance to clean up. Resolves once it has exited. */
  async kill(): Promise<Exit> {
    if (this.exit) return this.exit;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  private waitUntil<T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = find();
        if (found !== undefined) return settle(() => resolve(found));
        if (this.exit) settle(() => reject(new Error(`${this.name} exited (${describe(this.exit)}) before ${what}\n${this.output()}`)));
      };
      const timer = setTimeout(() => settle(() => reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.output()}`))), timeoutMs);
      const settle = (action: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        action();
      };
      this.listeners.add(check);
      check();
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/**
 * Starts `node apps/<app>/dist/main.js` from the repository root with `options.env` on top of
 * PATH alone: no variable of the test process leaks in. Its output is captured, not shown.
 */
export function startApp(app: string, options: StartAppOptions = {}): AppProcess {
  const entry = `apps/${app}/dist/main.js`;
  if (!existsSync(join(REPO_ROOT, entry))) {
    throw new Error(`${entry} does not exist: build the apps first (pnpm build, or pnpm test which builds before testing)`);
  }
  const child = spawn(process.execPath, [entry], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', JOBS_MODULE: TEST_JOBS_MODULE, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started = new AppProcess(options.name ?? app, child);
  running.add(started);
  return started;
}

/** Stops every app given (SIGTERM, then SIGKILL past the timeout), for an afterAll. Never throws. */
export async function stopApps(apps: Iterable<AppProcess | undefined>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
  await Promise.all([...apps].map((app) => app?.stop(timeoutMs).catch(() => undefined)));
}

function describe(exit: Exit | undefined): string {
  if (!exit) return 'still running';
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}

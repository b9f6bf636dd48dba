import { createClient, type DrumlineClient } from '@drumline/client';
import { parseDuration } from './duration.js';
import { UsageError } from './errors/usage-error.js';
import type { ExitCodeValue } from './exit-codes.js';
import { json, type Io } from './output.js';

/** What the process gives the CLI: main.ts passes the real ones, so nothing else reads process.env. */
export interface CliContext {
  io: Io;
  env: { DRUMLINE_URL?: string | undefined; DRUMLINE_TOKEN?: string | undefined };
  cwd: string;
  now(): number;
}

/** The options every command takes. */
export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
  timeout?: string;
}

export const DEFAULT_URL = 'http://localhost:3000';

/** One command's run: its client, how it prints, and the exit code it ends with. */
export class Session {
  exitCode: ExitCodeValue = 0;
  private client: DrumlineClient | undefined;

  constructor(
    readonly context: CliContext,
    private readonly options: GlobalOptions,
  ) {}

  get json(): boolean {
    return this.options.json === true;
  }

  now(): number {
    return this.context.now();
  }

  /** The API client, from --url/--token or DRUMLINE_URL/DRUMLINE_TOKEN. */
  api(): DrumlineClient {
    if (this.client) return this.client;
    const url = this.options.url ?? this.context.env.DRUMLINE_URL ?? DEFAULT_URL;
    const token = this.options.token ?? this.context.env.DRUMLINE_TOKEN;
    if (!token) throw new UsageError('no API token: set DRUMLINE_TOKEN or pass --token (the web\'s API_TOKEN; dev default dev-api-token-change-me)');
    const timeoutMs = this.options.timeout === undefined ? undefined : parseDuration(this.options.timeout, '--timeout');
    try {
      this.client = createClient({ url, token, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    return this.client;
  }

  /** Prints `data` as JSON with --json, else `human` (a line, a table). */
  print(human: string, data: unknown): void {
    this.context.io.stdout(this.json ? json(data) : human.endsWith('\n') || human === '' ? human : `${human}\n`);
  }
}

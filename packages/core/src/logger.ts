import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/**
 * pino-pretty for a person at a terminal: a line's fields stay on its line, and the ones that are
 * for log stores are left out: `app` (each process has its terminal, and `pnpm start` prefixes
 * every line with the app's name) and the web's `reqId`, which joins a request's lines there.
 */
const prettyOptions = { destination: 2, singleLine: true, ignore: 'pid,hostname,app,reqId' };

/** The root logger of a process; everything else logs through its `child()` loggers. */
export function createLogger(options: { app: string; level: LevelWithSilent; pretty?: boolean }): Logger {
  return pino({
    level: options.level,
    base: { app: options.app },
    ...(options.pretty ? { transport: { target: 'pino-pretty', options: prettyOptions } } : {}),
  });
}

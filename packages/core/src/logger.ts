import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** The root logger of a process; everything else logs through its `child()` loggers. */
export function createLogger(options: { app: string; level: LevelWithSilent; pretty?: boolean }): Logger {
  return pino({
    level: options.level,
    base: { app: options.app },
    ...(options.pretty ? { transport: { target: 'pino-pretty', options: { destination: 2 } } } : {}),
  });
}

import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';

/** A pino logger at `info` that keeps every line it writes, parsed, for the outcomes only a log line tells an operator. */
export function recordingLogger(base?: Record<string, unknown>): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info', ...(base ? { base } : {}) },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
  return { logger, lines };
}

import type { z } from 'zod';
import { DrumlineError } from './drumline-error.js';

export interface PayloadIssue {
  path: string;
  message: string;
}

/** A payload does not satisfy its job's schema; `issues` lists each field at fault. */
export class InvalidPayloadError extends DrumlineError {
  readonly code = 'DRUMLINE_INVALID_PAYLOAD';

  constructor(
    readonly jobName: string,
    readonly issues: PayloadIssue[],
  ) {
    super(`invalid payload for job \`${jobName}\`: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
  }

  static fromZod(jobName: string, error: z.ZodError, pathPrefix: (string | number)[] = []): InvalidPayloadError {
    return new InvalidPayloadError(
      jobName,
      error.issues.map((issue) => ({
        path: [...pathPrefix, ...issue.path].map(String).join('.'),
        message: issue.message,
      })),
    );
  }
}

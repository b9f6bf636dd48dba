import { JobDefinitionError } from './errors/index.js';

/** One line for a user: what is wrong with which job and schedule, and in which file. */
export function describeDefinitionError(error: JobDefinitionError): string {
  const where = error.file ? ` (in ${error.file})` : '';
  return `invalid job definition: ${error.message.replace(/\s*\n\s*/g, ' ')}${where}`;
}

/**
 * Runs `load`, an app's import of the user's jobs (`await import('@drumline/jobs')`) and what it
 * builds from them. A mistake in those definitions ends the process with exit code 1 and one line
 * on stderr naming the job, the schedule and the file, instead of a stack trace from inside core.
 */
export async function loadDefinitions<T>(app: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (!(error instanceof JobDefinitionError)) throw error;
    process.stderr.write(`${app}: ${describeDefinitionError(error)}\n`);
    process.exit(1);
  }
}

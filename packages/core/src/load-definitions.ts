import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { InitTaskDefinition } from './define-init-task.js';
import type { JobDefinition } from './define-job.js';
import { ConfigError } from './errors/config-error.js';
import { JobDefinitionError } from './errors/index.js';

/** Where the apps load the jobs list from when JOBS_MODULE is not set: the user's packages/jobs. */
export const DEFAULT_JOBS_MODULE = '@drumline/jobs';

/** What a jobs module exports: the `jobs` list, and init tasks if it has any. */
export interface UserDefinitions {
  jobs: readonly JobDefinition[];
  initTasks: readonly InitTaskDefinition[];
}

/** One line for a user: what is wrong with which job and schedule, and in which file. */
export function describeDefinitionError(error: JobDefinitionError): string {
  const where = error.file ? ` (in ${error.file})` : '';
  return `invalid job definition: ${error.message.replace(/\s*\n\s*/g, ' ')}${where}`;
}

/**
 * The specifier to import for JOBS_MODULE: a package name as it is (resolved from the app, which
 * depends on `@drumline/jobs`), a path (`./`, `../` or absolute) as a file URL from `cwd`.
 */
export function jobsModuleSpecifier(value: string | undefined, cwd: string): string {
  const given = value?.trim() ?? '';
  if (given === '') return DEFAULT_JOBS_MODULE;
  if (isAbsolute(given) || given.startsWith('./') || given.startsWith('../')) return pathToFileURL(resolve(cwd, given)).href;
  return given;
}

/** Checks the shape of a loaded jobs module: JOBS_MODULE may name anything. */
export function readJobsModule(loaded: unknown, name: string): UserDefinitions {
  const { jobs, initTasks = [] } = (loaded ?? {}) as { jobs?: unknown; initTasks?: unknown };
  if (!Array.isArray(jobs)) throw new ConfigError(`JOBS_MODULE: \`${name}\` exports no \`jobs\` list (export const jobs = [...] as const)`, ['JOBS_MODULE']);
  if (!Array.isArray(initTasks)) throw new ConfigError(`JOBS_MODULE: \`${name}\` exports \`initTasks\` that is not a list`, ['JOBS_MODULE']);
  return { jobs: jobs as JobDefinition[], initTasks: initTasks as InitTaskDefinition[] };
}

export interface LoadDefinitionsOptions<T> {
  /** JOBS_MODULE as the environment has it. */
  jobsModule: string | undefined;
  /** The app's own `(specifier) => import(specifier)`, so that a package name resolves from the app. */
  importModule: (specifier: string) => Promise<unknown>;
  /** What the app builds from the definitions (its registries); definition errors thrown here count too. */
  build: (definitions: UserDefinitions) => T;
  cwd?: string;
}

/**
 * Imports the user's jobs (JOBS_MODULE, default `@drumline/jobs`) and builds what the app needs of
 * them. A mistake in those definitions, or a module that cannot be loaded, ends the process with
 * exit code 1 and one line on stderr naming the job, the schedule and the file (or the module),
 * instead of a stack trace from inside core.
 */
export async function loadDefinitions<T>(app: string, options: LoadDefinitionsOptions<T>): Promise<T> {
  const specifier = jobsModuleSpecifier(options.jobsModule, options.cwd ?? process.cwd());
  const name = options.jobsModule?.trim() || DEFAULT_JOBS_MODULE;
  try {
    let loaded: unknown;
    try {
      loaded = await options.importModule(specifier);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
      throw new ConfigError(`JOBS_MODULE: \`${name}\` cannot be loaded: ${(error as Error).message.split('\n')[0]}; build it first (pnpm build)`, ['JOBS_MODULE']);
    }
    return options.build(readJobsModule(loaded, name));
  } catch (error) {
    if (error instanceof JobDefinitionError) process.stderr.write(`${app}: ${describeDefinitionError(error)}\n`);
    else if (error instanceof ConfigError) process.stderr.write(`${app}: ${error.message}\n`);
    else throw error;
    process.exit(1);
  }
}

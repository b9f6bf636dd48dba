import { existsSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// Where a definition was written, for start-up errors a user can act on without reading a stack.

const CORE_DIR = fileURLToPath(new URL('.', import.meta.url));
const FRAME_PATH = /((?:file:\/\/)?\/[^\s()]+?):\d+:\d+\)?$/;
const sites = new WeakMap<object, string>();

/**
 * The file that called into packages/core: the first stack frame outside it, shown as its
 * TypeScript source (`src/x.ts` for a built `dist/x.js`) relative to the working directory.
 */
export function callerFile(): string | undefined {
  for (const line of (new Error().stack ?? '').split('\n').slice(1)) {
    const found = FRAME_PATH.exec(line.trim())?.[1];
    if (!found) continue;
    const path = found.startsWith('file://') ? fileURLToPath(found) : found;
    // Core itself, and whatever runs the user's module (a test runner, a loader), are not it.
    if (path.startsWith(CORE_DIR) || path.includes('/node_modules/')) continue;
    const source = path.replace(/\/dist\/(.*)\.js$/, '/src/$1.ts');
    const file = source !== path && existsSync(source) ? source : path;
    const shown = relative(process.cwd(), file);
    return shown.startsWith('..') || isAbsolute(shown) ? file : shown;
  }
  return undefined;
}

/** Remembers the file a definition was made in. */
export function recordDefinitionSite(definition: object, file: string | undefined): void {
  if (file !== undefined) sites.set(definition, file);
}

/** The file a definition was made in, when known. */
export function definitionSite(definition: object): string | undefined {
  return sites.get(definition);
}

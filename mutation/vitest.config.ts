import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Stryker's vitest config: the in-process tests only, with @drumline/core read from its sources.
// The apps import core from its compiled `dist/`, which Stryker never mutates: without these
// aliases every mutant of packages/core would survive untested. Tests that start the built apps
// as processes (e2e, browser, *process*) run compiled code too, so they cannot kill a mutant either.
const core = (file: string) => fileURLToPath(new URL(`../packages/core/src/${file}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@drumline\/core\/runtime$/, replacement: core('runtime.ts') },
      { find: /^@drumline\/core$/, replacement: core('index.ts') },
    ],
  },
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['{apps,packages}/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', '**/process*.test.ts', '**/observability.test.ts', 'apps/web/test/main.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});

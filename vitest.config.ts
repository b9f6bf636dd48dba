import { defineConfig } from 'vitest/config';

// Every test file uses its own Redis key prefix, so files run in parallel against one Redis.
export default defineConfig({
  test: {
    include: ['{apps,packages,tests}/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    typecheck: { enabled: true, include: ['{apps,packages}/**/*.test-d.ts'], tsconfig: 'tsconfig.typecheck.json' },
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: process.env.CI ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'test-results/junit.xml' },
  },
});

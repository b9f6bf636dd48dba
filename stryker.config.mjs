// @ts-check
// `pnpm test:mutation [batch...]`: StrykerJS over the modules that carry the scheduler's promises,
// one batch at a time (scripts/test-mutation.mjs), each with its own report under reports/mutation/.
// The tests hit the real Redis on 127.0.0.1:6379 with a key prefix per file, so test runners
// could run side by side; two are plenty on a shared machine.
const batches = {
  worker: ['apps/worker/src/schedule-gate.ts', 'apps/worker/src/scheduled-run-gate.ts', 'apps/worker/src/job-runner.ts', 'apps/worker/src/claim-batch.ts'],
  scheduler: [
    'apps/scheduler/src/materializer.ts',
    'apps/scheduler/src/promoter.ts',
    'apps/scheduler/src/reconcile.ts',
    'apps/scheduler/src/overdue-watcher.ts',
    'apps/scheduler/src/stalled-failure-watcher.ts',
    'apps/scheduler/src/missed-ticks.ts',
    'apps/scheduler/src/alert-once.ts',
  ],
  // schedule-spec.ts is left out while the time engine is being rewritten.
  core: ['packages/core/src/misfire.ts', 'packages/core/src/leader-election.ts', 'packages/core/src/run-series.ts', 'packages/core/src/alert-webhook.ts'],
  web: ['apps/web/src/plugins/api-token-auth.ts', 'apps/web/src/plugins/dashboard-auth.ts', 'apps/web/src/plugins/error-handler.ts'],
};

const batch = process.env.MUTATION_BATCH ?? 'worker';
const mutate = batches[/** @type {keyof typeof batches} */ (batch)];
if (!mutate) throw new Error(`MUTATION_BATCH=${batch}: expected one of ${Object.keys(batches).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // pnpm's strict node_modules hides the runner from Stryker's own '@stryker-mutator/*' lookup.
  plugins: [import.meta.resolve('@stryker-mutator/vitest-runner')],
  vitest: { configFile: 'mutation/vitest.config.ts', related: true },
  // Each mutant runs only the tests that covered it in the dry run.
  coverageAnalysis: 'perTest',
  // A static mutant (a module-level constant) would need every test of the batch per mutant.
  ignoreStatic: true,
  concurrency: 2,
  mutate,
  // Logging only: a mutated log message or log level changes nothing a user relies on.
  ignorers: [],
  timeoutMS: 20_000,
  timeoutFactor: 2,
  incremental: true,
  incrementalFile: `reports/mutation/${batch}/incremental.json`,
  tempDirName: 'reports/.stryker-tmp',
  ignorePatterns: ['bench', 'docs', 'deploy', 'tests/browser', 'tests/e2e', '.data', 'test-results', 'reports', '.turbo', 'coverage'],
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: { fileName: `reports/mutation/${batch}/index.html` },
  jsonReporter: { fileName: `reports/mutation/${batch}/mutation.json` },
  thresholds: { high: 90, low: 85, break: null },
};

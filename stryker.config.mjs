// @ts-check
// `pnpm test:mutation [batch...]`: StrykerJS over the modules that carry the scheduler's promises,
// one batch at a time (scripts/test-mutation.mjs), each with its own report under reports/mutation/.
// The tests hit the real Redis on 127.0.0.1:6379 with a key prefix per file, so test runners
// could run side by side; two are plenty on a shared machine.
const batches = {
  worker: ['apps/worker/src/schedule-gate.ts', 'apps/worker/src/scheduled-run-gate.ts', 'apps/worker/src/job-runner.ts', 'apps/worker/src/claim-batch.ts', 'apps/worker/src/flow-gate.ts'],
  scheduler: [
    'apps/scheduler/src/materializer.ts',
    'apps/scheduler/src/promoter.ts',
    'apps/scheduler/src/reconcile.ts',
    'apps/scheduler/src/overdue-watcher.ts',
    'apps/scheduler/src/stalled-failure-watcher.ts',
    'apps/scheduler/src/missed-ticks.ts',
    'apps/scheduler/src/alert-once.ts',
  ],
  core: [
    'packages/core/src/misfire.ts',
    'packages/core/src/leader-election.ts',
    'packages/core/src/run-series.ts',
    'packages/core/src/alert-webhook.ts',
    'packages/core/src/flow-policy.ts',
    'packages/core/src/flow-enqueue.ts',
    'packages/core/src/flow-wait.ts',
    'packages/core/src/schedule-jitter.ts',
  ],
  web: ['apps/web/src/plugins/api-token-auth.ts', 'apps/web/src/plugins/dashboard-auth.ts', 'apps/web/src/plugins/error-handler.ts'],
  // The time engine: when each schedule's ticks fall (cron in zones, DST, every, at).
  time: ['packages/core/src/schedule-spec.ts', 'packages/core/src/time/*.ts', '!packages/core/src/time/*.test.ts', '!packages/core/src/time/*.test-support.ts'],
};

/**
 * Equivalent survivors deliberately left off this list, because skipping a node skips its
 * sub-expressions too, and those have mutants the tests kill:
 * - materializer.ts `isCurrent` (its body, and its result made false): a fast path; cursorFor
 *   returns the cursor it was given when it still fits.
 * - materializer.ts `paused && !cursor.paused` (made ||) and `!paused && cursor.paused` (made true
 *   or ||): cursorFor is reached with a cursor only when its spec or pause state differs, so past
 *   the spec test the cases left decide the same.
 * - materializer.ts `items.slice(start, start + 1000)` (made `items`): each chunk adds every run
 *   again, and BullMQ keeps one job per id.
 * - overdue-watcher.ts `cached && cached.from === baseline.from && ...` (made false): the expected
 *   tick is computed again each look, CPU only.
 *
 * Surviving mutants no test should kill, by file and the source of the mutated node (exactly, or
 * a RegExp), and if need be a piece of the line it starts on (or a RegExp the line matches); every mutant of that node is skipped. Each says why: an equivalent mutant behaves the same however
 * it is called; "timing only" ones differ in wall-clock time alone, which no test asserts (see
 * CONVENTIONS.md: timing figures belong to `pnpm bench`).
 * @type {{ file: string; code: string | RegExp; line?: string | RegExp; reason: string }[]}
 */
export const explained = [
  {
    file: 'packages/core/src/run-series.ts',
    code: 'bucket < DURATION_BUCKETS.length',
    reason: 'Equivalent: past the last bucket DURATION_BUCKETS[bucket] is undefined, so the loop stops anyway, and a Float64Array ignores a write past its end',
  },
  {
    file: 'packages/core/src/run-series.ts',
    code: "aggregator: 'sum'",
    reason: "Equivalent here: prom-client reads `aggregator` only in its cluster AggregatorRegistry, which Drumline does not use",
  },
  {
    file: 'packages/core/src/alert-webhook.ts',
    code: '{ ref: false }',
    reason: "Equivalent: whether flush()'s timer holds the event loop open is not observable while the alerts it waits for keep it open themselves",
  },
  {
    file: 'apps/worker/src/schedule-gate.ts',
    code: 'Math.max(100, Math.floor(ttl / 3))',
    reason: 'Timing only: how often a held overlap lock is renewed; the lock-TTL test checks each renewal stays within overlapLockMs',
  },
  {
    file: 'apps/worker/src/schedule-gate.ts',
    code: 'Date.now() + 250',
    reason: "Timing only: how soon an `overlap: queue` run asks again; the queue test checks the order of the runs, not the delay",
  },
  {
    file: 'apps/scheduler/src/reconcile.ts',
    code: "existing?.owner === 'api'",
    reason: 'Logging only: it decides only whether the takeover of an api-owned schedule is logged',
  },
  {
    file: 'packages/core/src/leader-election.ts',
    code: '!token',
    line: 'if (!token) return false;',
    reason: 'Equivalent: without a token the fenced script is sent an empty one, refuses it, and the write answers false all the same (one round trip later)',
  },
  {
    file: 'packages/core/src/leader-election.ts',
    code: 'sets.slice(start, start + chunk)',
    reason: 'Equivalent for the hash: writing every pair in each chunk leaves the same fields; only the size of a script call changes',
  },
  {
    file: 'packages/core/src/leader-election.ts',
    code: 'Math.max(50, Math.floor(ttl / 10))',
    reason: "Timing only: how often a standby asks for the lease changes how soon it takes over, which pnpm bench measures (failover), not a test",
  },
  {
    file: 'packages/core/src/leader-election.ts',
    code: 'performance.now() >= this.validUntil',
    line: 'could not renew the lease in time',
    reason: 'Equivalent: > and >= differ only at the very instant of a monotonic float clock',
  },
  {
    file: 'packages/core/src/leader-election.ts',
    code: 'false',
    line: 'private running = false;',
    reason: 'Equivalent: nothing reads `running` before start() sets it',
  },
  {
    file: 'packages/core/src/alert-webhook.ts',
    code: "''",
    line: "let lastError = ''",
    reason: 'Logging only: lastError is only the error field of the log line of a lost alert',
  },
  {
    file: 'packages/core/src/alert-webhook.ts',
    code: /^`HTTP \$\{response\.status\}`$|^\{\s*lastError = error instanceof Error|^`\$\{error\.message\}: \$\{error\.cause\.message\}`$/,
    reason: 'Logging only: lastError is only the error field of the log line of a lost alert',
  },
  {
    file: 'packages/core/src/alert-webhook.ts',
    code: '() => this.inFlight.delete(delivery)',
    reason: 'Equivalent for every caller: a settled delivery left in the set costs memory, but flush() waits on settled promises at once',
  },
  {
    file: 'packages/core/src/alert-webhook.ts',
    code: 'this.inFlight.size === 0',
    reason: 'Equivalent: with nothing in flight, Promise.all([]) settles the race at once anyway',
  },
  {
    file: 'packages/core/src/alert-webhook.ts',
    code: 'attempt - 1',
    reason: 'Timing only: a longer backoff before each retry (0.5 s and 1 s become 2 s and 4 s) shows only as an upper bound on wall-clock gaps',
  },
  {
    file: 'apps/scheduler/src/missed-ticks.ts',
    code: 'first === undefined || last === undefined',
    reason: 'Equivalent: the first and the last of a list are undefined together (an empty batch), so either half of the test, or both joined with &&, decides the same',
  },
  {
    file: 'apps/scheduler/src/stalled-failure-watcher.ts',
    code: "(error: Error) => logger.warn({ err: error, queue: queue.name }, 'listening for stalled failures failed; retrying')",
    reason: 'Logging only: the handler exists so that an error event does not end the process (the Redis restart test); what it logs is not relied on',
  },
  {
    file: 'apps/scheduler/src/stalled-failure-watcher.ts',
    code: 'this.options.redisHealth',
    line: 'if (this.options.redisHealth)',
    reason: 'Logging only: with a RedisHealth the stream connection\'s errors are logged once per outage by it, without one each is logged here; either way the listener retries',
  },
  {
    file: 'apps/scheduler/src/stalled-failure-watcher.ts',
    code: "'error'",
    line: "else events.on('error', onOtherError);",
    reason: "Logging only: without an 'error' listener BullMQ's QueueBase.emit catches the throw and writes the error to console.error (queue-base.js), so the process lives on either way; the Redis restart test shows the listener carries on",
  },
  {
    file: 'apps/scheduler/src/stalled-failure-watcher.ts',
    code: '(events) => events.waitUntilReady()',
    reason: 'Timing only: start() would resolve before the event streams are connected, so a failure in that window of a few milliseconds could go unheard; no test can place one there without racing',
  },
  {
    file: 'apps/scheduler/src/promoter.ts',
    code: 'slot?.jobs ?? []',
    reason: 'Equivalent: fire() runs only from the timer of a slot it finds in `due` (stop() clears both), so `slot` is never undefined there',
  },
  {
    file: 'apps/scheduler/src/promoter.ts',
    code: '(await pipeline.exec()) ?? []',
    reason: 'Equivalent: ioredis answers null only for a MULTI that was discarded; this pipeline is no transaction',
  },
  {
    file: 'apps/scheduler/src/promoter.ts',
    code: 'code !== 0 && code !== NOT_DELAYED',
    reason: "Unreachable with BullMQ 5.81: promote-9.lua answers 0 or -3 only, and a failing script is an error reply, thrown the line before (the WRONGTYPE test); kept to notice a later BullMQ's new answer",
  },
  {
    file: 'apps/scheduler/src/promoter.ts',
    code: '`promoting a delayed job answered ${String(code)}`',
    reason: 'The message of the unreachable throw above',
  },
  {
    file: 'apps/scheduler/src/stalled-failure-watcher.ts',
    code: /^\{\s*logger\.error\(\{ err: error, runId, queue: queue\.name \}, 'reporting a stalled failure failed'\);\s*\}$/,
    reason: 'Logging only: the catch exists so that a failed report is not an unhandled rejection; its one statement logs',
  },
  {
    file: 'apps/worker/src/job-runner.ts',
    code: "''",
    line: "runId: job.id ?? '',",
    reason: 'Unreachable: BullMQ gives every job an id when it is added, so a job a worker takes never lacks one and the fallback is never read',
  },
  {
    file: 'apps/worker/src/job-runner.ts',
    code: 'tickMs - Date.now() > MAX_HOLD_MS',
    reason: 'Timing only, its >= mutant: > and >= differ only for a run exactly MAX_HOLD_MS early to the millisecond, which either waits in delayed or in its slot, and both start it at its tick. The other mutants of this condition, which the hold and far-ahead tests kill, are skipped with it',
  },
  {
    file: 'apps/worker/src/job-runner.ts',
    code: 'early > 0',
    reason: 'Timing only, its >= mutant: at early === 0 the tick has come, and >= only adds one more 1 ms timer before the run starts. Its other mutants, which the hold tests kill, are skipped with it',
  },
  {
    file: 'apps/worker/src/job-runner.ts',
    code: 'run.stopReason',
    line: /^\s*if \(run\.stopReason\) return reject\(run\.stopReason\);$/,
    reason: 'Unreachable when false: each wait of the hold starts synchronously after the run is added or right after the previous timer (its continuation is a microtask), and every stop comes from a timer or I/O callback, so a stop always finds `interrupt` set and rejects the wait itself. Its `true` mutant, which the hold tests kill, is skipped with it',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: /^\{\s*const \{ pollMs \} = this\.options;/,
    reason: 'Timing only: where on the wall clock passes start (half a poll away from whole seconds) changes when they run, not what they add; a delay of 0 or less runs them back to back',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: '() => this.untilNextPass()',
    reason: 'Timing only: without a delay the next pass starts at once instead of on the poll grid',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: "'materializer pass failed'",
    reason: 'Logging only: the message RepeatingTask logs a failed pass with',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: '++visited % SCHEDULES_PER_SLICE === 0',
    reason: "Timing only: how often a loop over every schedule yields to the event loop, so the lease renewal timer fires on time; pnpm bench's schedule-scale checks the leader keeps its lease at 10,000 schedules",
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: 'cursor.upTo <= now',
    reason: 'Equivalent: with upTo at or before now the window (now, upTo] holds no tick, so promoting or withdrawing it finds none; the test only saves the call',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: 'before && this.isCurrent(record, before)',
    reason: 'Equivalent: a fast path; cursorFor returns the very cursor it was given when spec and pause state still fit',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: 'cursorWrites.length > 0 || cursorDeletes.length > 0',
    reason: 'Equivalent: writeHashFenced with nothing to set or delete sends nothing and answers true',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: "(error) => options.logger.warn({ err: error }, 'promoting a due job failed')",
    reason: "Logging only: the promoter's catch keeps a failed promotion from being an unhandled rejection whatever this handler does; its one statement logs",
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: 'add.promote && election.isLeader',
    reason: 'Equivalent: a run added without a delay is already waiting and promote skips it, and the fenced write just succeeded, so isLeader is still true bar a lease lapsing in between (the promotion then only moves a run to wait early, where the worker holds it until its tick)',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: 'fingerprint === undefined',
    reason: 'Equivalent: the cache only saves recomputing scheduleFingerprint, a function of the record alone',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: 'cursor.upTo >= horizon',
    reason: 'Equivalent: a tick after an upTo at or past the horizon is past it too, so the nextTickOf test next to it returns the same cursor; this one only saves computing that tick',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: 'cursor.upTo < missedEnd',
    reason: 'Equivalent: from an upTo at or after missedEnd the window up to missedEnd holds no tick, so the scan finds none',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: 'delay > 0',
    reason: 'Equivalent: BullMQ makes a job delayed only for a delay above 0 (Scripts.addJob), so a run due now is added to wait either way, and promote skips a job that is not delayed',
  },
  {
    file: 'apps/scheduler/src/materializer.ts',
    code: 'start < items.length',
    reason: 'Equivalent: the one extra round, for a multiple of 1000 runs, is addBulk([]), which adds nothing',
  },
  {
    file: 'apps/scheduler/src/overdue-watcher.ts',
    code: 'options.checkEveryMs ?? Math.min(5_000, Math.max(250, Math.floor(options.overdueMs / 6)))',
    reason: 'Timing only: how often the watcher looks changes how soon after overdueMs a flag appears, not which ticks are flagged',
  },
  {
    file: 'apps/scheduler/src/overdue-watcher.ts',
    code: '() => this.checkEveryMs',
    reason: 'Timing only: without a delay the next look starts at once',
  },
  {
    file: 'apps/scheduler/src/overdue-watcher.ts',
    code: "'overdue check failed'",
    reason: 'Logging only: the message RepeatingTask logs a failed look with',
  },
  {
    file: 'apps/scheduler/src/overdue-watcher.ts',
    code: 'parseScheduledRunId(lastRun.runId)?.manual',
    reason: "Equivalent for every last run Drumline records: the worker's gate records only runs whose id parses as a scheduled run's (gateScheduledRuns admits the others untouched)",
  },
  {
    file: 'apps/scheduler/src/overdue-watcher.ts',
    code: 'next !== undefined',
    reason: 'Equivalent: undefined <= a number is false, so the comparison after it leaves the tick undefined anyway',
  },
  {
    file: 'apps/scheduler/src/overdue-watcher.ts',
    code: '[this.missedThrough, this.expected]',
    reason: "Memory only: the entries of a deleted schedule are never read to any effect again (a schedule made again under its id starts a new baseline from now, later than its old entries)",
  },
  {
    file: 'apps/scheduler/src/overdue-watcher.ts',
    code: '!ids.has(id)',
    line: 'for (const cache of',
    reason: 'Equivalent but for memory and CPU: dropping a live entry too only recomputes the expected tick, and a missed tick is in the stored baseline by the end of the look that read it',
  },
  {
    file: 'apps/scheduler/src/overdue-watcher.ts',
    code: '{ from: baseline.from, fingerprint: baseline.fingerprint, tick }',
    reason: 'CPU only: an empty cache entry never matches, so the expected tick is computed again each look',
  },
  {
    file: 'packages/core/src/time/cron-syntax.ts',
    code: 'size !== undefined',
    reason: 'Equivalent: the guard is for the type checker; a number is never greater than undefined, so a base it cannot count is never refused either way',
  },
  {
    file: 'packages/core/src/time/cron-syntax.ts',
    code: 'low === undefined',
    reason: "Equivalent: String.split always returns at least one element, so low is never undefined",
  },
  {
    file: 'packages/core/src/time/cron-syntax.ts',
    code: 'from === undefined || to === undefined',
    reason: 'Equivalent: a bound it cannot read makes the span NaN, and no step is greater than NaN, so the base is left to cron-parser either way',
  },
  {
    file: 'packages/core/src/time/cron-syntax.ts',
    code: 'range.max - range.min',
    line: 'return Math.min(',
    reason: 'Equivalent: the cap binds only on days of week (0-7 writes Sunday twice), whose min is 0; elsewhere a readable range never covers more than its field',
  },
];

const batch = process.env.MUTATION_BATCH ?? 'worker';
const mutate = batches[/** @type {keyof typeof batches} */ (batch)];
if (!mutate) throw new Error(`MUTATION_BATCH=${batch}: expected one of ${Object.keys(batches).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // pnpm's strict node_modules hides the runner from Stryker's own '@stryker-mutator/*' lookup.
  plugins: [import.meta.resolve('@stryker-mutator/vitest-runner'), import.meta.resolve('./mutation/ignorers.mjs')],
  vitest: { configFile: 'mutation/vitest.config.ts', related: true },
  // Each mutant runs only the tests that covered it in the dry run.
  coverageAnalysis: 'perTest',
  // A static mutant (a module-level constant) would need every test of the batch per mutant.
  ignoreStatic: true,
  concurrency: 2,
  mutate,
  // mutation/ignorers.mjs: `logging` skips the arguments of logger calls; `explained` skips the
  // mutants listed in `explained` below, each with its reason.
  ignorers: ['logging', 'explained'],
  timeoutMS: 5_000,
  timeoutFactor: 1.5,
  incremental: true,
  incrementalFile: `reports/mutation/${batch}/incremental.json`,
  tempDirName: 'reports/.stryker-tmp',
  ignorePatterns: ['bench', 'docs', 'deploy', 'tests/browser', 'tests/e2e', '.data', 'test-results', 'reports', '.turbo', 'coverage'],
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: { fileName: `reports/mutation/${batch}/index.html` },
  jsonReporter: { fileName: `reports/mutation/${batch}/mutation.json` },
  thresholds: { high: 90, low: 85, break: null },
};

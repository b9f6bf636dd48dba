// `pnpm bench [--quick] [--only name,name]`: runs every scenario against Drumline and against a
// bare BullMQ/Fastify baseline on a Redis of its own, writes bench/results/latest.{json,md} and
// prints the table. See bench/README.md for what each scenario measures.
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { writeResults, table } from './support/report.js';
import { RedisServer } from './support/redis-server.js';
import { SCENARIO_NAMES, type Scenario, type ScenarioResult } from './support/scenario.js';
import { round } from './support/stats.js';
import { scenarios } from './scenarios/index.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    /** Results go to bench/results/<out>.{json,md}: `latest` for a full run, `quick` for --quick, so a quick run never replaces the committed figures. */
    out: { type: 'string' },
  },
});
const only = values.only?.split(',').map((name) => name.trim());
const unknown = only?.filter((name) => !(SCENARIO_NAMES as readonly string[]).includes(name)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIO_NAMES.join(', ')}\n`);
  process.exit(2);
}
const selected = scenarios.filter((scenario) => !only || only.includes(scenario.name));
const log = (message: string) => process.stderr.write(`${message}\n`);

const redis = await RedisServer.start();
const machine = {
  cpus: cpus().length,
  model: cpus()[0]?.model.trim() ?? 'unknown',
  node: process.version,
  redis: await redis.version(),
  date: new Date().toISOString(),
  mode: values.quick ? 'quick' : 'full',
  /** 1, 5 and 15 minute load averages: other work on the machine skews every figure, so say how busy it was. */
  loadAverage: { atStart: loadavg().map((value) => round(value, 2)), atEnd: [] as number[] },
};
log(
  `drumline bench (${machine.mode}): ${machine.cpus} × ${machine.model}, node ${machine.node}, redis ${machine.redis} on port ${redis.port}, ` +
    `load average ${machine.loadAverage.atStart.join(' ')}`,
);

const results: ScenarioResult[] = [];
try {
  for (const scenario of selected) results.push(await runScenario(scenario));
} finally {
  await redis.stop();
}

machine.loadAverage.atEnd = loadavg().map((value) => round(value, 2));
const files = writeResults({ machine, scenarios: results }, values.out ?? (values.quick ? 'quick' : 'latest'));
process.stdout.write(`\n${table(results)}\n\nwritten: ${files.join(', ')}\n`);

async function runScenario(scenario: Scenario): Promise<ScenarioResult> {
  log(`\n▶ ${scenario.name}`);
  const startedAt = performance.now();
  const durationS = () => round((performance.now() - startedAt) / 1000, 1);
  try {
    await redis.flush();
    const measured = await scenario.run({ redis, quick: values.quick, log });
    const result: ScenarioResult = { name: scenario.name, target: scenario.target, ...measured, durationS: durationS() };
    log(`  ${result.pass ? 'pass' : 'MISSED'}: ${measured.summary.drumline} vs ${measured.summary.baseline}, ratio ${measured.ratio} (${result.durationS} s)`);
    return result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`  ERROR: ${message}`);
    return { name: scenario.name, target: scenario.target, drumline: {}, baseline: {}, ratio: null, pass: false, error: message, durationS: durationS() };
  }
}

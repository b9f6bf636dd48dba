// pnpm test:mutation [batch...]: runs StrykerJS (stryker.config.mjs) one batch of modules after
// another, niced, so the machine stays usable; each batch writes reports/mutation/<batch>/.
// Slow (tens of minutes), so it is not part of .ci/run.
import { spawnSync } from 'node:child_process';

const all = ['core', 'worker', 'scheduler', 'web', 'time'];
const asked = process.argv.slice(2);
const unknown = asked.filter((batch) => !all.includes(batch));
if (unknown.length > 0) {
  console.error(`unknown batch ${unknown.join(', ')}: expected some of ${all.join(', ')}`);
  process.exit(2);
}
let failed = false;
for (const batch of asked.length > 0 ? asked : all) {
  console.log(`\n=== mutation testing: ${batch} ===`);
  const run = spawnSync('nice', ['-n', '10', 'stryker', 'run'], { stdio: 'inherit', env: { ...process.env, MUTATION_BATCH: batch } });
  if (run.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);

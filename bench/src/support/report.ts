import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ScenarioResult } from './scenario.js';

export interface Machine {
  cpus: number;
  model: string;
  node: string;
  redis: string;
  date: string;
  mode: string;
  loadAverage: { atStart: number[]; atEnd: number[] };
}

export interface Results {
  machine: Machine;
  scenarios: ScenarioResult[];
}

const RESULTS_DIR = fileURLToPath(new URL('../../results/', import.meta.url));

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** The markdown table the README shows: one row per scenario. */
export function table(scenarios: ScenarioResult[]): string {
  const rows = scenarios.map((result) => {
    const verdict = result.error ? '**error**' : result.pass ? 'pass' : '**missed**';
    const drumline = result.error ? `error: ${result.error.split('\n')[0] ?? ''}` : (result.summary?.drumline ?? '');
    return `| ${result.name} | ${cell(drumline)} | ${cell(result.summary?.baseline ?? '')} | ${result.ratio ?? '–'} | ${cell(result.target)} | ${verdict} |`;
  });
  return ['| scenario | Drumline | baseline | ratio | target | result |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

function markdown({ machine, scenarios }: Results): string {
  const notes = scenarios.map((result) => {
    const lines = [`### ${result.name}`, ''];
    if (result.error) lines.push(`**Error:** ${result.error}`, '');
    if (result.missed) lines.push(`**Target missed:** ${result.missed}`, '');
    if (result.method) lines.push(result.method, '');
    if (result.ratioOf) lines.push(`Ratio: ${result.ratioOf} (≥ 1 means Drumline is at least as good).`, '');
    return lines.join('\n');
  });
  return [
    '# Drumline benchmarks',
    '',
    `${machine.date} · ${machine.mode} run · ${machine.cpus} × ${machine.model} · Node ${machine.node} · Redis ${machine.redis} · ` +
      `load average ${machine.loadAverage.atStart.join(' ')} at the start, ${machine.loadAverage.atEnd.join(' ')} at the end ` +
      '(the machine is shared: other work on it slows both sides, and the CPU-per-job figures are steadier than the rates)',
    '',
    table(scenarios),
    '',
    'Every ratio reads the same way: ≥ 1 means Drumline does at least as well as the baseline (for latency and memory the baseline is divided by Drumline).',
    '',
    '## How each figure was measured',
    '',
    ...notes,
  ].join('\n');
}

/** Writes `<name>.json` and `<name>.md` under bench/results/ and returns their paths. */
export function writeResults(results: Results, name: string): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = `${RESULTS_DIR}${name}.json`;
  const md = `${RESULTS_DIR}${name}.md`;
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(md, `${markdown(results)}\n`);
  return [json, md];
}

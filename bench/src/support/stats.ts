/** The value below which `p` percent of `values` fall (nearest rank), or NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/**
 * The median over paired rounds of `ours[i] ÷ theirs[i]`. The two runs of a round follow each other,
 * so they share the machine's mood: on a shared machine this is steadier than the ratio of the two
 * sides' medians (one side's runs ranged 11-17k jobs/s within an hour here).
 */
export function medianPairedRatio(ours: readonly number[], theirs: readonly number[]): number {
  if (ours.length !== theirs.length) throw new Error(`paired rounds differ in number: ${ours.length} and ${theirs.length}`);
  return median(ours.map((value, index) => value / (theirs[index] as number)));
}

export function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export const mib = (bytes: number): number => round(bytes / 1024 / 1024, 1);

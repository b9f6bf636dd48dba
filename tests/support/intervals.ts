/** A run's handler time, as the flow-control test jobs return it. */
export interface Interval {
  startedAt: number;
  finishedAt: number;
}

/** The most of `runs` whose handlers overlapped at one instant; an end and a start in the same millisecond do not overlap. */
export function mostAtOnce(runs: readonly Interval[]): number {
  const edges = runs.flatMap((run) => [
    { at: run.startedAt, step: 1 },
    { at: run.finishedAt, step: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let now = 0;
  let most = 0;
  for (const edge of edges) most = Math.max(most, (now += edge.step));
  return most;
}

/** The most of `starts` (ms) inside any window of `windowMs`. */
export function mostInAWindow(starts: readonly number[], windowMs: number): number {
  const sorted = [...starts].sort((a, b) => a - b);
  let most = 0;
  for (let first = 0, last = 0; last < sorted.length; last += 1) {
    while ((sorted[last] as number) - (sorted[first] as number) >= windowMs) first += 1;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

import type { LeaderTerm, Leaderless, TickEvent, TickSummary } from '@drumline/core/runtime';

/** One line of a tick's story: when, who, what. */
export interface StoryLine {
  readonly at: number;
  /** `scheduler <replica> (term <n>)` or `worker <host:pid>`. */
  readonly actor: string;
  readonly kind: TickEvent['kind'];
  readonly text: string;
}

const iso = (ms: number) => new Date(ms).toISOString();
/** `01:59:58` style, with the date when the two times fall on different days. */
export function clock(ms: number, beside?: number): string {
  const text = iso(ms);
  return beside !== undefined && iso(beside).slice(0, 10) === text.slice(0, 10) ? text.slice(11, 19) : `${text.slice(0, 10)} ${text.slice(11, 19)}`;
}

function seconds(ms: number): string {
  return Math.abs(ms) < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function schedulerOf(term: number, terms: readonly LeaderTerm[]): string {
  const held = terms.find((candidate) => candidate.term === term);
  return held ? `scheduler ${held.replica} (term ${term})` : `scheduler (term ${term})`;
}

/** Why no scheduler added a tick, in words: "no scheduler was leading between 01:59:58 and 02:00:31". */
export function leaderlessText(gap: Leaderless, tick: number): string {
  if (gap.from !== undefined && gap.to !== undefined) return `no scheduler was leading between ${clock(gap.from, tick)} and ${clock(gap.to, tick)}`;
  if (gap.from !== undefined) return `no scheduler has been leading since ${clock(gap.from, tick)}`;
  if (gap.to !== undefined) return `no scheduler was leading before ${clock(gap.to, tick)}`;
  return 'no scheduler has led yet';
}

/** The story's lines, oldest first, each in words. */
export function storyLines(tick: number, dueAt: number, events: readonly TickEvent[], terms: readonly LeaderTerm[]): StoryLine[] {
  return [...events]
    .sort((a, b) => a.at - b.at)
    .map((event): StoryLine => {
      switch (event.kind) {
        case 'materialized':
          return {
            at: event.at,
            actor: schedulerOf(event.term, terms),
            kind: event.kind,
            text: event.late
              ? `added the run late, ${seconds(event.at - tick)} after its tick: it was missed while no scheduler led, and the misfire policy catches it up`
              : `added the run, due at ${clock(dueAt, tick)}`,
          };
        case 'backfilled':
          return { at: event.at, actor: 'web (backfill)', kind: event.kind, text: 'a backfill added the run: late by design, so no misfire policy drops it' };
        case 'missed':
          return { at: event.at, actor: schedulerOf(event.term, terms), kind: event.kind, text: 'found the tick missed while no scheduler led; the misfire policy dropped it' };
        case 'withdrawn':
          return {
            at: event.at,
            actor: schedulerOf(event.term, terms),
            kind: event.kind,
            text: `withdrew the run before it started: the schedule was ${event.why === 'changed' ? 'changed' : event.why}`,
          };
        case 'started':
          return { at: event.at, actor: `worker ${event.worker}`, kind: event.kind, text: `started attempt ${event.attempt}, ${seconds(event.at - dueAt)} after it was due` };
        case 'completed':
          return { at: event.at, actor: `worker ${event.worker}`, kind: event.kind, text: `attempt ${event.attempt} completed` };
        case 'failed':
          return {
            at: event.at,
            actor: `worker ${event.worker}`,
            kind: event.kind,
            text: `attempt ${event.attempt} failed${event.reason ? `: ${event.reason}` : ''}${event.retry ? '; it will be retried' : '; no attempt is left'}`,
          };
        case 'requeued':
          return { at: event.at, actor: `worker ${event.worker}`, kind: event.kind, text: `shut down during attempt ${event.attempt} and put the run back for another worker` };
        case 'skipped':
          return { at: event.at, actor: `worker ${event.worker}`, kind: event.kind, text: skipText(event.why, event.at - dueAt) };
        case 'duplicate':
          return { at: event.at, actor: `worker ${event.worker}`, kind: event.kind, text: 'turned away a second job for this tick: the tick had run already' };
      }
    });
}

function skipText(why: Extract<TickEvent, { kind: 'skipped' }>['why'], lateMs: number): string {
  if (why === 'paused') return 'did not run it: the schedule is paused';
  if (why === 'overlap') return "did not run it: the schedule's previous run was still going (overlap: skip)";
  return `did not run it: it could start only ${seconds(lateMs)} after it was due, too late for the misfire policy (no worker was free in time)`;
}

/** The story in one sentence, from its state and lines. */
export function storySummary(summary: TickSummary, lines: readonly StoryLine[]): string {
  const lastOf = (kind: TickEvent['kind']) => [...lines].reverse().find((line) => line.kind === kind);
  const late = summary.latenessMs === null ? '' : `, ${seconds(summary.latenessMs)} late`;
  const duration = summary.durationMs === null ? '' : ` in ${seconds(summary.durationMs)}`;
  switch (summary.state) {
    case 'ran':
      return `ran: ${lastOf('completed')?.actor ?? 'a worker'} completed it${duration}${late}${summary.attempts > 1 ? ` after ${summary.attempts} attempts` : ''}`;
    case 'failed':
      return `failed: ${summary.attempts} attempt${summary.attempts === 1 ? '' : 's'}, the last one failed${summary.reason ? `: ${summary.reason}` : ''}`;
    case 'missed':
      return `missed: ${lastOf('skipped')?.text.replace(/^did not run it: /, '') ?? lastOf('missed')?.text ?? 'no run was made for it'}`;
    case 'pending':
      if (lastOf('started')) return `pending: running or about to retry (attempt ${summary.attempts})${late}`;
      return lastOf('materialized') || lastOf('backfilled') ? 'pending: added, waiting for its time or a worker' : 'pending: not added yet';
    default:
      return `${summary.state}: ${lines[lines.length - 1]?.text ?? ''}`;
  }
}

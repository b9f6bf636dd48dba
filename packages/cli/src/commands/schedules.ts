import { isBroken, type BrokenSchedule, type Schedule, type Tick } from '@drumline/client';
import type { Command } from 'commander';
import { describeTiming, timingOf } from '../deployed-schedule.js';
import { UsageError } from '../errors/usage-error.js';
import { instant, table } from '../output.js';
import type { Session } from '../session.js';

type Register = (command: Command) => Command;
type Open = (command: Command) => Session;

function scheduleRow(schedule: Schedule | BrokenSchedule): Record<string, string> {
  if (isBroken(schedule)) return { id: schedule.id, job: '?', timing: '?', owner: '?', state: `broken: ${schedule.broken}`, next: '-', last: '-' };
  const last = schedule.lastRun ? `${schedule.lastRun.state} ${instant(schedule.lastRun.scheduledFor)}` : '-';
  return {
    id: schedule.id,
    job: schedule.job,
    timing: describeTiming(timingOf(schedule)),
    owner: schedule.owner,
    state: schedule.paused ? 'paused' : schedule.overdue ? `overdue since ${instant(schedule.overdue.since)}` : 'scheduled',
    next: instant(schedule.nextRuns[0]),
    last,
  };
}

/** `2026-12-02T08:30:00Z  Wed 2026-12-02 09:30 CET`: a tick also in its schedule's zone, as a cron reads it. */
function tickLine(tick: number, tz: string | null): string {
  const at = instant(new Date(tick).toISOString());
  if (!tz || tz === 'UTC') return at;
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: tz,
    weekday: 'short',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  }).formatToParts(new Date(tick));
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((candidate) => candidate.type === type)?.value ?? '';
  return `${at}  ${part('weekday')} ${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')} ${part('timeZoneName')}`;
}

function duration(ms: number | null): string {
  if (ms === null) return '-';
  return Math.abs(ms) < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}

function tickRow(tick: Tick): Record<string, string> {
  return {
    tick: instant(tick.tick),
    state: tick.state,
    late: duration(tick.latenessMs),
    took: duration(tick.durationMs),
    attempts: String(tick.attempts),
    reason: tick.reason ?? '',
  };
}

/** An instant argument: ISO 8601 or epoch ms, passed on as the API reads it. */
function instantArgument(text: string, name: string): string {
  if (/^\d{1,15}$/.test(text) || !Number.isNaN(Date.parse(text))) return text;
  throw new UsageError(`${name} \`${text}\` must be an ISO 8601 time (2026-12-02T02:00:00Z) or epoch milliseconds`);
}

/** schedules, next, pause, resume, trigger, backfill, ticks, tick */
export function registerScheduleCommands(program: Command, open: Open, common: Register): void {
  common(program.command('schedules').description('list every schedule: timing, owner, state, next and last run')).action(async (_options, command: Command) => {
    const session = open(command);
    const schedules: (Schedule | BrokenSchedule)[] = [];
    for await (const schedule of session.api().schedules.all({ pageSize: 500 })) schedules.push(schedule);
    session.print(table(schedules.map(scheduleRow), ['id', 'job', 'timing', 'owner', 'state', 'next', 'last']) || 'no schedules\n', schedules);
  });

  common(
    program
      .command('next')
      .description("a deployed schedule's next runs")
      .argument('<schedule>', 'the schedule id')
      .option('-n, --count <n>', 'how many (1-1000)', '5'),
  ).action(async (id: string, options: { count: string }, command: Command) => {
    const session = open(command);
    const count = Number(options.count);
    if (!/^\d+$/.test(options.count) || count < 1 || count > 1000) throw new UsageError(`-n \`${options.count}\` must be a whole number from 1 to 1000`);
    const schedule = await session.api().schedules.get(id);
    // The tick engine is core's, the one the scheduler uses: loaded here only, as it is the heavier part.
    const { ticksAfter } = await import('@drumline/core/runtime');
    const ticks = ticksAfter(timingOf(schedule), session.now(), count);
    const lines = ticks.map((tick) => tickLine(tick, schedule.tz));
    const note = schedule.paused ? `${id} is paused: none of these runs while it stays paused\n` : '';
    session.print(`${note}${lines.join('\n') || 'no more runs'}\n`, { id, paused: schedule.paused, nextRuns: ticks.map((tick) => new Date(tick).toISOString()) });
  });

  for (const [name, description] of [
    ['pause', 'pause a schedule (code-owned ones too): no tick runs until resumed'],
    ['resume', 'resume a paused schedule from now on: ticks passed while paused do not run'],
  ] as const) {
    common(program.command(name).description(description).argument('<schedule>', 'the schedule id')).action(async (id: string, _options, command: Command) => {
      const session = open(command);
      const schedule = name === 'pause' ? await session.api().schedules.pause(id) : await session.api().schedules.resume(id);
      session.print(name === 'pause' ? `paused ${id}` : `resumed ${id}; next run ${instant(schedule.nextRuns[0])}`, schedule);
    });
  }

  common(program.command('trigger').description("run a schedule once now, with its data, beside its ticks").argument('<schedule>', 'the schedule id')).action(
    async (id: string, _options, command: Command) => {
      const session = open(command);
      const run = await session.api().schedules.trigger(id);
      session.print(`triggered run ${run.id} of ${run.name}`, run);
    },
  );

  common(
    program
      .command('backfill')
      .description('run each tick of a past range once (a tick that already ran is skipped)')
      .argument('<schedule>', 'the schedule id')
      .requiredOption('--from <instant>', 'first instant, ISO 8601 with an offset (2026-11-30T00:00:00Z)')
      .requiredOption('--to <instant>', 'last instant, included, not in the future'),
  ).action(async (id: string, options: { from: string; to: string }, command: Command) => {
    const session = open(command);
    const result = await session.api().schedules.backfill(id, { from: options.from, to: options.to });
    session.print(`backfilled ${id}: ${result.ticks} tick(s) in range, ${result.enqueued} enqueued, ${result.skipped} skipped (already run or enqueued)`, result);
  });

  common(
    program
      .command('ticks')
      .description("a schedule's recent ticks, newest first: what became of each (ran, failed, missed, skipped, pending)")
      .argument('<schedule>', 'the schedule id')
      .option('--from <instant>', 'oldest tick to list')
      .option('--to <instant>', 'newest tick to list')
      .option('-n, --count <n>', 'how many (1-1000)', '20'),
  ).action(async (id: string, options: { from?: string; to?: string; count: string }, command: Command) => {
    const session = open(command);
    const count = Number(options.count);
    if (!/^\d+$/.test(options.count) || count < 1 || count > 1000) throw new UsageError(`-n \`${options.count}\` must be a whole number from 1 to 1000`);
    const range = {
      ...(options.from ? { from: instantArgument(options.from, '--from') } : {}),
      ...(options.to ? { to: instantArgument(options.to, '--to') } : {}),
    };
    const page = await session.api().schedules.ticks(id, { ...range, limit: count });
    const { ran, failed, skipped, missed, pending } = page.counts;
    const counts = `${ran} ran, ${failed} failed, ${skipped} skipped, ${missed} missed, ${pending} pending in the range\n`;
    session.print(`${table(page.ticks.map(tickRow), ['tick', 'state', 'late', 'took', 'attempts', 'reason']) || 'no ticks kept\n'}${counts}`, page);
  });

  common(
    program
      .command('tick')
      .description("one tick's story: who added it, which worker ran it, how late, how it ended, or why it never ran")
      .argument('<schedule>', 'the schedule id')
      .argument('<tick>', 'the tick, ISO 8601 or epoch ms'),
  ).action(async (id: string, tick: string, _options, command: Command) => {
    const session = open(command);
    const story = await session.api().schedules.tick(id, instantArgument(tick, '<tick>'));
    const lines = story.events.map((line) => `  ${instant(line.at)}  ${line.actor}: ${line.text}`);
    session.print(`${instant(story.tick)} ${story.summary}\n${lines.join('\n')}${lines.length > 0 ? '\n' : ''}`, story);
  });
}

import type { LedgerTick, SkipReason, TickEvent, WithdrawReason } from './tick-events.js';

/**
 * The ledger keeps each tick as one sorted-set member, `<tick> <event> <event>…`, scored by the
 * tick, and a writer appends an event with a string concatenation in Lua (lua/append-ticks.lua).
 * Events are short because 100,000 schedules keep up to 1000 ticks each: a letter, the time as an
 * offset from the tick, then `|`-separated fields; free text has `%`, space and `|` escaped. An
 * attempt ends on the worker that started it, so its end names no worker: it is read back from the
 * attempt's start.
 */
const CODES = {
  materialized: 'm',
  backfilled: 'b',
  missed: 'x',
  withdrawn: 'w',
  started: 's',
  completed: 'c',
  failed: 'f',
  requeued: 'r',
  skipped: 'k',
  duplicate: 'd',
} as const satisfies Record<TickEvent['kind'], string>;

/** A failure reason is kept this long: the run itself (in Bull Board) has all of it. */
export const MAX_REASON_LENGTH = 200;

const WITHDRAW_REASONS: readonly WithdrawReason[] = ['changed', 'paused', 'deleted'];
const SKIP_REASONS: readonly SkipReason[] = ['paused', 'overlap', 'missed'];

export function encodeTickEvent(tick: number, event: TickEvent): string {
  const head = `${CODES[event.kind]}${event.at - tick}`;
  switch (event.kind) {
    case 'materialized':
      return `${head}|${event.term}${event.late ? '|late' : ''}`;
    case 'backfilled':
      return head;
    case 'missed':
      return `${head}|${event.term}`;
    case 'withdrawn':
      return `${head}|${event.term}|${event.why}`;
    case 'started':
      return `${head}|${event.attempt}|${escape(event.worker)}`;
    case 'completed':
    case 'requeued':
      return `${head}|${event.attempt}`;
    case 'failed':
      return `${head}|${event.attempt}|${event.retry ? 1 : 0}|${escape(shortReason(event.reason))}`;
    case 'skipped':
      return `${head}|${escape(event.worker)}|${event.why}`;
    case 'duplicate':
      return `${head}|${escape(event.worker)}`;
  }
}

/**
 * Whether a stored member holds a completed attempt, without decoding it: that alone makes the
 * tick `ran` (summarizeTick), and most ticks ran, so counting a day of them need not decode each.
 * Every event starts with its code after a space; its fields are URI-encoded, so hold none.
 */
export function memberRan(member: string): boolean {
  return COMPLETED_EVENT.test(member);
}
const COMPLETED_EVENT = new RegExp(` ${CODES.completed}-?\\d`);

/** The tick of a stored member, without decoding its events. */
export function memberTick(member: string): number {
  return Number(member.slice(0, member.indexOf(' ') >>> 0));
}

/** A ledger member back as a tick; events this version cannot read (written by a newer one) are left out. */
export function decodeLedgerTick(member: string): LedgerTick {
  const [head = '', ...encoded] = member.split(' ');
  const tick = Number(head);
  const events = encoded.flatMap((text) => decodeEvent(tick, text) ?? []);
  const startedBy = new Map<number, string>();
  for (const event of events) if (event.kind === 'started') startedBy.set(event.attempt, event.worker);
  return { tick, events: events.map((event) => (isAttemptEnd(event) ? { ...event, worker: startedBy.get(event.attempt) ?? '' } : event)) };
}

function isAttemptEnd(event: TickEvent): event is Extract<TickEvent, { kind: 'completed' | 'failed' | 'requeued' }> {
  return event.kind === 'completed' || event.kind === 'failed' || event.kind === 'requeued';
}

/** The three characters the format gives a meaning to, escaped as in a URI, so decodeURIComponent reads them back. */
function escape(text: string): string {
  return text.replace(/[% |]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function decodeEvent(tick: number, text: string): TickEvent | undefined {
  const [first = '', ...fields] = text.split('|');
  const code = first[0];
  const at = tick + Number(first.slice(1));
  if (!Number.isFinite(at)) return undefined;
  const number = (index: number) => Number(fields[index]);
  const textAt = (index: number) => safeDecode(fields[index] ?? '');
  switch (code) {
    case CODES.materialized:
      return { kind: 'materialized', at, term: number(0), late: fields[1] === 'late' };
    case CODES.backfilled:
      return { kind: 'backfilled', at };
    case CODES.missed:
      return { kind: 'missed', at, term: number(0) };
    case CODES.withdrawn: {
      const why = WITHDRAW_REASONS.find((reason) => reason === fields[1]);
      return why ? { kind: 'withdrawn', at, term: number(0), why } : undefined;
    }
    case CODES.started:
      return { kind: 'started', at, attempt: number(0), worker: textAt(1) };
    case CODES.completed:
      return { kind: 'completed', at, attempt: number(0), worker: '' };
    case CODES.requeued:
      return { kind: 'requeued', at, attempt: number(0), worker: '' };
    case CODES.failed:
      return { kind: 'failed', at, attempt: number(0), worker: '', retry: fields[1] === '1', reason: textAt(2) };
    case CODES.skipped: {
      const why = SKIP_REASONS.find((reason) => reason === fields[1]);
      return why ? { kind: 'skipped', at, worker: textAt(0), why } : undefined;
    }
    case CODES.duplicate:
      return { kind: 'duplicate', at, worker: textAt(0) };
    default:
      return undefined;
  }
}

/** Whole characters only, and a lone surrogate (which UTF-8 cannot hold) replaced. */
function shortReason(reason: string): string {
  return Array.from(reason.replace(/\p{Cs}/gu, '\uFFFD')).slice(0, MAX_REASON_LENGTH).join('');
}

/** Text another writer mangled stays as it is rather than failing the whole tick. */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

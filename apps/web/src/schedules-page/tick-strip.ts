import type { TickState } from '@drumline/core/runtime';
import type { RecentTicks, TickView } from '../tick-history.js';
import { html, type Html } from './html.js';

/** Ticks a row's strip shows, and the stretch its counts cover. */
export const STRIP_TICKS = 40;
export const COUNT_WINDOW_MS = 24 * 3_600_000;

/**
 * A bar's height class for a lateness: one step per tenfold (under 10 ms, under 100 ms, … 10 s
 * and over), so a few ms and a few minutes both show; `none` for a tick that never started.
 * Classes, not heights: the page's CSP allows no inline style.
 */
export function latenessLevel(latenessMs: number | null): string {
  if (latenessMs === null) return 'none';
  return String(Math.min(6, Math.max(1, Math.floor(Math.log10(Math.max(1, latenessMs))) + 1)));
}

/** The state as a class: `skipped:<why>` are one look, the reason is in the label. */
function stateClass(state: TickState): string {
  return state.startsWith('skipped:') ? 'skipped' : state;
}

function late(ms: number | null): string {
  if (ms === null) return '';
  return Math.abs(ms) < 1000 ? `, ${ms} ms late` : `, ${(ms / 1000).toFixed(1)} s late`;
}

export function tickLabel(tick: TickView): string {
  const at = new Date(tick.tick).toISOString().slice(0, 19).replace('T', ' ');
  const why = tick.reason && tick.state !== 'ran' && !tick.state.startsWith('skipped:') ? ` (${tick.reason})` : '';
  return `${at} UTC: ${tick.state.replace(':', ' ')}${late(tick.latenessMs)}${why}`;
}

export function tickPath(self: string, id: string, tick: number): string {
  return `${self}/${encodeURIComponent(id)}/ticks/${new Date(tick).toISOString()}`;
}

/**
 * A schedule's latest ticks, oldest on the left, each a link to its story: colour and pattern by
 * state (the pattern and the title, also the link's accessible name, tell them apart without colour), height by lateness. Beside it,
 * what became of the ticks of the last 24 h.
 */
export function tickStrip(id: string, recent: RecentTicks | undefined, self: string): Html {
  if (!recent) return html`<span class="muted">no history</span>`;
  const bars = [...recent.ticks].reverse().map(
    (tick) => html`<a class="tick tick-${stateClass(tick.state)} late-${latenessLevel(tick.latenessMs)}" data-state="${tick.state}" href="${tickPath(self, id, tick.tick)}" title="${tickLabel(tick)}"></a>`,
  );
  const { ran, failed, skipped, missed } = recent.counts;
  const count = (n: number, what: string) => html`<span class="count count-${what}${n > 0 ? '' : ' zero'}">${n} ${what}</span>`;
  const strip = bars.length > 0 ? html`<div class="strip" aria-label="last ${bars.length} ticks, oldest first">${bars}</div>` : html`<span class="muted">no ticks yet</span>`;
  return html`${strip}<div class="counts">24 h: ${count(ran, 'ran')} ${count(failed, 'failed')} ${count(skipped, 'skipped')} ${count(missed, 'missed')}</div>`;
}

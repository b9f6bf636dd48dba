import type { JobDefinition } from '@drumline/core/runtime';
import type { BrokenScheduleView, SchedulePage, ScheduleView } from '../routes/schedules.js';
import type { RecentTicks } from '../tick-history.js';
import { document, html, when, type Html } from './html.js';
import { tickStrip } from './tick-strip.js';

export interface SchedulesPageLinks {
  /** Where this page is mounted, for the buttons' requests and the page's assets. */
  self: string;
  /** Bull Board's base path. */
  dashboard: string;
  docs: string;
}

function timing(schedule: ScheduleView): string {
  const { spec, tz } = schedule;
  if (spec.cron !== undefined) return `cron ${spec.cron} (${tz ?? 'UTC'})`;
  if (spec.every !== undefined) return `every ${formatDuration(spec.every)}`;
  return `once at ${spec.at ?? '?'}`;
}

function formatDuration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ];
  const unit = units.find(([size]) => ms >= size && ms % size === 0);
  return unit ? `${ms / unit[0]} ${unit[1]}` : `${ms} ms`;
}

function lateness(ms: number): string {
  return Math.abs(ms) < 1000 ? `${ms} ms late` : `${(ms / 1000).toFixed(1)} s late`;
}

function lastRun(schedule: ScheduleView, runUrl: string | undefined): Html {
  const run = schedule.lastRun;
  if (!run) return html`<span class="muted">never ran</span>`;
  const state = html`<span class="state state-${run.state}">${run.state}</span>`;
  const link = runUrl ? html`<a href="${runUrl}">${run.runId}</a>` : html`${run.runId}`;
  const attempts = run.attempts > 1 ? `, attempt ${run.attempts}` : '';
  return html`${state} ${link}<br><span class="muted">for ${when(run.scheduledFor)}, ${lateness(run.latenessMs)}${attempts}${run.reason ? ` (${run.reason})` : ''}</span>`;
}

/** Paused, overdue (the dead-man's switch: a tick's run has not started in time) or on schedule. */
function status(schedule: ScheduleView): Html {
  if (schedule.paused) return html`<span class="state state-paused">paused</span>`;
  if (schedule.overdue) return html`<span class="state state-overdue">overdue</span><br><span class="muted">the run for ${when(schedule.overdue.tick)} has not started</span>`;
  return html`<span class="state state-scheduled">scheduled</span>`;
}

/** A job's flow limits in a few words, as its runs (this schedule's included) are held to them. */
function limits({ concurrency, rateLimit }: JobDefinition['flow']): string {
  const perKey = (keyed: boolean) => (keyed ? ' per key' : '');
  return [
    concurrency ? `at most ${concurrency.limit} at once${perKey(concurrency.keyed)}` : '',
    rateLimit ? `at most ${rateLimit.limit} starts per ${formatDuration(rateLimit.windowMs)}${perKey(rateLimit.keyed)}` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

function row(schedule: ScheduleView, recent: RecentTicks | undefined, jobOf: (job: string) => JobDefinition | undefined, links: SchedulesPageLinks): Html {
  const job = jobOf(schedule.job);
  const queue = job?.queue;
  const jobLimits = job ? limits(job.flow) : '';
  const runUrl = schedule.lastRun && queue ? `${links.dashboard}/queue/${encodeURIComponent(queue)}/${encodeURIComponent(schedule.lastRun.runId)}` : undefined;
  const next = schedule.nextRuns.length > 0 ? html`<ol class="next">${schedule.nextRuns.map((iso) => html`<li>${when(iso)}</li>`)}</ol>` : html`<span class="muted">none</span>`;
  const toggle = schedule.paused ? html`<button type="button" data-action="resume">Resume</button>` : html`<button type="button" data-action="pause">Pause</button>`;
  const cancel = schedule.lastRun?.state === 'active' ? html` <button type="button" data-action="cancel-run">Cancel run</button>` : html``;
  const backfill = html`<details class="backfill"><summary>Backfill</summary><label>from <input type="datetime-local" step="1" name="from"></label> <label>to <input type="datetime-local" step="1" name="to"></label> <button type="button" data-action="backfill">Run past ticks</button></details>`;
  return html`<tr data-schedule="${schedule.id}" class="${schedule.paused ? 'paused' : ''}">
  <td><strong>${schedule.id}</strong><br><span class="muted">${schedule.owner === 'code' ? 'declared in code' : 'added through the API'}</span></td>
  <td>${schedule.job}${jobLimits ? html`<br><span class="muted">${jobLimits}</span>` : html``}</td>
  <td>${timing(schedule)}<br><span class="muted">misfire ${schedule.misfire}, overlap ${schedule.overlap}${schedule.jitterMs > 0 ? `, jitter ${formatDuration(schedule.jitterMs)}` : ''}</span></td>
  <td class="status">${status(schedule)}</td>
  <td class="history">${tickStrip(schedule.id, recent, links.self)}</td>
  <td>${next}</td>
  <td class="last-run">${lastRun(schedule, runUrl)}</td>
  <td class="actions">${toggle} <button type="button" data-action="trigger">Run now</button>${cancel}${backfill}</td>
</tr>`;
}

function brokenRow(schedule: BrokenScheduleView): Html {
  return html`<tr data-schedule="${schedule.id}" class="broken">
  <td><strong>${schedule.id}</strong></td>
  <td colspan="7"><span class="state state-failed">broken</span> <span class="muted">cannot be read: ${schedule.broken}. Fix it with PUT /api/schedules/:id, or delete it.</span></td>
</tr>`;
}

/** What the page lists: a page of schedules, their recent ticks, and the search it answers. */
export interface SchedulesPageView {
  page: SchedulePage;
  recent: ReadonlyMap<string, RecentTicks>;
  /** The search, or '' for every schedule. */
  q: string;
}

function search(q: string, self: string): Html {
  return html`<form class="search" role="search" method="get" action="${self}">
<input type="search" name="q" value="${q}" placeholder="schedule id or job" aria-label="Search schedules by id or job">
<button type="submit">Search</button>${q ? html` <a href="${self}">all schedules</a>` : html``}
<label class="refresh"><input type="checkbox" id="auto-refresh" checked> refresh every 10 s</label>
</form>`;
}

function pageLink(links: SchedulesPageLinks, q: string, cursor: string): string {
  return `${links.self}?${new URLSearchParams({ ...(q ? { q } : {}), cursor }).toString()}`;
}

const legend = html`<p class="legend muted">Ticks, oldest on the left, each a link to its story; taller is later:
<span class="tick tick-ran late-3"></span> ran <span class="tick tick-failed late-3"></span> failed <span class="tick tick-skipped late-3"></span> skipped
<span class="tick tick-missed late-3"></span> missed <span class="tick tick-pending late-3"></span> pending</p>`;

/** A page of schedules as a table, with a link to the next page; page.js makes its buttons work and refreshes it. */
export function renderSchedulesPage({ page, recent, q }: SchedulesPageView, jobOf: (job: string) => JobDefinition | undefined, links: SchedulesPageLinks): string {
  const { schedules, nextCursor } = page;
  const rows = schedules.map((schedule) => ('broken' in schedule ? brokenRow(schedule) : row(schedule, recent.get(schedule.id), jobOf, links)));
  const more = nextCursor === null ? html`` : html`<p><a class="next-page" href="${pageLink(links, q, nextCursor)}">Next page</a></p>`;
  const empty = q
    ? html`<p class="muted">No schedule's id or job contains “${q}”.</p>`
    : html`<p class="muted">No schedules yet: declare them in packages/jobs, or PUT /api/schedules/:id.</p>`;
  const body =
    schedules.length > 0
      ? html`${legend}
<table>
<thead><tr><th>Schedule</th><th>Job</th><th>When</th><th>State</th><th>Recent ticks</th><th>Next runs</th><th>Last run</th><th></th></tr></thead>
<tbody id="schedules">
${rows}
</tbody>
</table>
${more}`
      : empty;
  const nav = html`<a href="${links.dashboard}">Queues (Bull Board)</a> <a href="${links.docs}">API docs</a>`;
  return document('Schedules', links.self, links.dashboard, nav, html`${search(q, links.self)}
<p id="status" role="status" aria-live="polite"></p>
<div id="listing">
${body}
</div>`);
}

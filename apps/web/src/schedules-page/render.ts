import type { JobDefinition } from '@drumline/core/runtime';
import type { BrokenScheduleView, SchedulePage, ScheduleView } from '../routes/schedules.js';

/** Makes text safe inside HTML elements and double- or single-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Builds HTML from a template: every interpolated value is escaped unless it is already `Html`. */
class Html {
  constructor(readonly text: string) {}
}

function html(strings: TemplateStringsArray, ...values: (string | number | Html | Html[])[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    const parts = Array.isArray(value) ? value : [value];
    out += parts.map((part) => (part instanceof Html ? part.text : escapeHtml(String(part)))).join('');
    out += strings[index + 1] ?? '';
  });
  return new Html(out);
}

export interface SchedulesPageLinks {
  /** Where this page is mounted, for the buttons' requests and the page's assets. */
  self: string;
  /** Bull Board's base path. */
  dashboard: string;
  docs: string;
}

function when(iso: string): Html {
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`;
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

function row(schedule: ScheduleView, jobOf: (job: string) => JobDefinition | undefined, links: SchedulesPageLinks): Html {
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
  <td>${next}</td>
  <td>${lastRun(schedule, runUrl)}</td>
  <td class="actions">${toggle} <button type="button" data-action="trigger">Run now</button>${cancel}${backfill}</td>
</tr>`;
}

function brokenRow(schedule: BrokenScheduleView): Html {
  return html`<tr data-schedule="${schedule.id}" class="broken">
  <td><strong>${schedule.id}</strong></td>
  <td colspan="6"><span class="state state-failed">broken</span> <span class="muted">cannot be read: ${schedule.broken}. Fix it with PUT /api/schedules/:id, or delete it.</span></td>
</tr>`;
}

/** A page of schedules as a table, with a link to the next page; page.js makes its buttons work. */
export function renderSchedulesPage(page: SchedulePage, jobOf: (job: string) => JobDefinition | undefined, links: SchedulesPageLinks): string {
  const { schedules, nextCursor } = page;
  const rows = schedules.map((schedule) => ('broken' in schedule ? brokenRow(schedule) : row(schedule, jobOf, links)));
  const more = nextCursor === null ? html`` : html`<p><a class="next-page" href="${links.self}?cursor=${encodeURIComponent(nextCursor)}">Next page</a></p>`;
  const body =
    schedules.length > 0
      ? html`<table>
<thead><tr><th>Schedule</th><th>Job</th><th>When</th><th>State</th><th>Next runs</th><th>Last run</th><th></th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
${more}`
      : html`<p class="muted">No schedules yet: declare them in packages/jobs, or PUT /api/schedules/:id.</p>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Schedules · Drumline</title>
<link rel="stylesheet" href="${links.self}/page.css">
<script type="module" src="${links.self}/page.js"></script>
</head>
<body data-base="${links.self}" data-dashboard="${links.dashboard}">
<header>
<h1>Drumline · Schedules</h1>
<nav><a href="${links.dashboard}">Queues (Bull Board)</a> <a href="${links.docs}">API docs</a></nav>
</header>
<main>
<p id="status" role="status" aria-live="polite"></p>
${body}
</main>
</body>
</html>
`.text;
}

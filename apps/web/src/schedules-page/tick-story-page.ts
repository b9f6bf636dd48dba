import type { TickStory } from '../tick-history.js';
import { document, html, when } from './html.js';
import type { SchedulesPageLinks } from './render.js';

function nav(links: SchedulesPageLinks): ReturnType<typeof html> {
  return html`<a href="${links.self}">Schedules</a> <a href="${links.dashboard}">Queues (Bull Board)</a>`;
}

/** One tick's story: its state and sentence, the decisions of the scheduler and the workers, and its run. */
export function renderTickStory(id: string, story: TickStory, runUrl: string | undefined, links: SchedulesPageLinks): string {
  const tick = new Date(story.tick).toISOString();
  const events =
    story.events.length > 0
      ? html`<table class="events">
<thead><tr><th>When</th><th>Who</th><th>What</th></tr></thead>
<tbody>
${story.events.map((line) => html`<tr data-kind="${line.kind}"><td>${when(new Date(line.at).toISOString())}</td><td>${line.actor}</td><td>${line.text}</td></tr>\n`)}</tbody>
</table>`
      : html`<p class="muted">The tick ledger has no event for this tick.</p>`;
  const run = story.runId
    ? runUrl
      ? html`<p>Run: <a class="run-link" href="${runUrl}">${story.runId}</a> in Bull Board</p>`
      : html`<p>Run: ${story.runId} <span class="muted">(its job is no longer defined, so Bull Board has no queue for it)</span></p>`
    : html`<p class="muted">No run was made for this tick.</p>`;
  const main = html`<p><a href="${links.self}?q=${encodeURIComponent(id)}">← ${id}</a></p>
<h2>${id} · ${when(tick)}</h2>
<p><span class="state tick-state tick-state-${story.state.split(':')[0] ?? ''}">${story.state.replace(':', ' ')}</span> <span class="summary">${story.summary}</span></p>
${run}
${events}`;
  return document(`Tick of ${id}`, links.self, links.dashboard, nav(links), main);
}

/** A page for a 400 or 404 of the schedules page's own routes: what was wrong, and the way back. */
export function renderProblem(title: string, message: string, links: SchedulesPageLinks): string {
  return document(title, links.self, links.dashboard, nav(links), html`<h2>${title}</h2>\n<p class="problem">${message}</p>`);
}

// The schedules page's stylesheet and script, served as files so the page's Content-Security-Policy
// can forbid inline scripts and styles: escaping is the first defence, the policy the second.

export const pageCss = `
:root { font-family: system-ui, sans-serif; color: #1f2933; background: #f5f7fa; }
body { margin: 0; min-width: max-content; }
header { display: flex; align-items: baseline; justify-content: space-between; padding: 12px 24px; background: #243b53; color: #fff; }
header h1 { font-size: 1.2rem; margin: 0; }
header a { color: #bcccdc; margin-left: 16px; }
main { padding: 16px 24px; }
table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.1); }
th, td { text-align: left; vertical-align: top; padding: 8px 12px; border-bottom: 1px solid #e4e7eb; font-size: .9rem; }
th { background: #f0f4f8; font-weight: 600; }
tr.paused td { background: #fffbea; }
.muted { color: #7b8794; font-size: .8rem; }
ol.next { margin: 0; padding-left: 18px; white-space: nowrap; }
time { white-space: nowrap; }
.state { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: .8rem; background: #e4e7eb; }
.state-completed, .state-scheduled { background: #c6f7e2; color: #014d40; }
.state-failed, .state-overdue { background: #ffe3e3; color: #8a041a; }
.state-active { background: #dceefb; color: #0b4f71; }
.state-paused, .state-skipped { background: #fff3c4; color: #8d2b0b; }
.actions { white-space: nowrap; }
details.backfill { margin-top: 6px; }
details.backfill summary { cursor: pointer; color: #486581; font-size: .8rem; }
details.backfill input { font: inherit; font-size: .8rem; }
button { font: inherit; padding: 4px 10px; border: 1px solid #829ab1; border-radius: 4px; background: #fff; cursor: pointer; }
button:hover { background: #f0f4f8; }
button:disabled { opacity: .5; cursor: wait; }
form.search { display: flex; gap: 8px; align-items: center; margin-bottom: 12px; }
form.search input[type=search] { font: inherit; padding: 4px 8px; width: 280px; border: 1px solid #829ab1; border-radius: 4px; }
form.search .refresh { margin-left: auto; color: #486581; font-size: .85rem; }
td.history { min-width: 250px; }
.strip { display: flex; align-items: flex-end; gap: 1px; height: 28px; }
.tick { display: inline-block; width: 5px; box-sizing: border-box; }
a.tick:hover { opacity: .6; }
a.tick:focus-visible { outline: 2px solid #102a43; outline-offset: 1px; }
.legend .tick { vertical-align: bottom; margin: 0 2px 0 8px; }
.late-none { height: 14px; } .late-1 { height: 6px; } .late-2 { height: 10px; } .late-3 { height: 14px; }
.late-4 { height: 18px; } .late-5 { height: 23px; } .late-6 { height: 28px; }
/* Each state has its own shape as well as its colour: solid, capped, striped, hollow, dashed. */
.tick-ran { background: #3ebd93; }
.tick-failed { background: #e12d39; border-top: 3px solid #610316; }
.tick-skipped { background: repeating-linear-gradient(0deg, #f0b429 0 2px, #fff 2px 3px); }
.tick-missed { background: #fff; border: 1px solid #52606d; }
.tick-pending { background: #dceefb; border: 1px dashed #2186eb; }
.counts { margin-top: 4px; font-size: .8rem; white-space: nowrap; }
.count.zero { color: #9aa5b1; }
.count-failed:not(.zero) { color: #8a041a; font-weight: 600; }
.count-missed:not(.zero), .count-skipped:not(.zero) { color: #8d2b0b; }
h2 { font-size: 1.1rem; }
table.events td:nth-child(2) { white-space: nowrap; }
.tick-state-ran { background: #c6f7e2; color: #014d40; }
.tick-state-failed, .tick-state-missed { background: #ffe3e3; color: #8a041a; }
.tick-state-skipped { background: #fff3c4; color: #8d2b0b; }
.tick-state-pending { background: #dceefb; color: #0b4f71; }
.problem { padding: 8px 12px; background: #ffe3e3; border-radius: 4px; }
#status:empty { display: none; }
#status { padding: 8px 12px; background: #dceefb; border-radius: 4px; }
#status.error { background: #ffe3e3; }
`;

/**
 * Posts each button's action to the page's own routes with the header that proves it came from
 * here, and refreshes the listing every 10 s while nobody is in the middle of using it.
 */
export const pageJs = `
const base = document.body.dataset.base;
const dashboard = document.body.dataset.dashboard;
const status = document.getElementById('status');
const listing = document.getElementById('listing');
const autoRefresh = document.getElementById('auto-refresh');
const REFRESH_MS = 10000;

// An open backfill form or a pending button would be swapped away under the user's hands.
const busy = () => listing.querySelector('details[open], button:disabled') !== null;

const count = (name) => { document.body.dataset[name] = String(Number(document.body.dataset[name] || 0) + 1); };

async function refresh() {
  if (!autoRefresh.checked || document.hidden) return;
  if (busy()) return count('refreshHeld');
  try {
    // The same address: the search and the page the user is on stay as they are.
    const response = await fetch(location.href, { headers: { accept: 'text/html' } });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), 'text/html').getElementById('listing');
    if (!fresh) return;
    if (busy()) return count('refreshHeld');
    listing.replaceChildren(...fresh.childNodes);
    count('refreshed');
  } catch {
    // The next refresh tries again; the page as it is stays usable.
  }
}

if (listing && autoRefresh) {
  autoRefresh.checked = sessionStorage.getItem('drumline-auto-refresh') !== 'off';
  autoRefresh.addEventListener('change', () => sessionStorage.setItem('drumline-auto-refresh', autoRefresh.checked ? 'on' : 'off'));
  setInterval(refresh, REFRESH_MS);
}

function say(text, isError) {
  status.textContent = text;
  status.className = isError ? 'error' : '';
}

document.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const id = button.closest('tr[data-schedule]').dataset.schedule;
  const action = button.dataset.action;
  const row = button.closest('tr[data-schedule]');
  const request = { method: 'POST', headers: { 'x-drumline-page': 'schedules' } };
  if (action === 'backfill') {
    // The inputs hold local times; the API takes instants.
    const [from, to] = ['from', 'to'].map((name) => row.querySelector('input[name="' + name + '"]').value);
    if (!from || !to) return say('Pick the first and last time of the range to backfill', true);
    request.headers['content-type'] = 'application/json';
    request.body = JSON.stringify({ from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  }
  button.disabled = true;
  try {
    const response = await fetch(base + '/' + encodeURIComponent(id) + '/' + action, request);
    const body = await response.json();
    if (!response.ok) return say(body.message || 'failed with status ' + response.status, true);
    if (action === 'backfill') return say('Backfill of ' + id + ': ' + body.enqueued + ' run(s) enqueued, ' + body.skipped + ' tick(s) already run, of ' + body.ticks);
    if (action !== 'trigger') return location.reload();
    status.textContent = 'Enqueued run ';
    status.className = '';
    const link = document.createElement('a');
    link.href = dashboard + '/queue/' + encodeURIComponent(body.queue) + '/' + encodeURIComponent(body.id);
    link.textContent = body.id;
    status.append(link);
  } catch (error) {
    say(String(error), true);
  } finally {
    button.disabled = false;
  }
});
`;

// `pnpm start`: web + scheduler + worker on this machine, against REDIS_URL (default
// redis://127.0.0.1:6379). If nothing answers there and redis-server is on the PATH, it starts one
// with its data under REDIS_DATA_DIR (default .data/redis); with REDIS_SENTINELS or
// REDIS_CLUSTER_NODES set, it leaves Redis to the apps. Ctrl-C (or SIGTERM, to it or to its
// process group) stops the apps, then that Redis, and exits 0, even when its output is a pipe
// that closed; if any process dies on its own, everything is stopped and the exit code is 1.
//
// `--watch` (`pnpm dev`): it also runs `tsc --watch` for core, jobs and each app, and each time one
// of them has compiled a change it restarts the apps (the worker drains first). An app that dies
// then waits for the next change instead of stopping everything.
//
// Plain Node on purpose: it runs before anything but the build, and needs no dependencies.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createConnection } from 'node:net';
import { delimiter, join, relative, resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const apps = ['web', 'scheduler', 'worker'];
const watchMode = process.argv.includes('--watch');
// What `--watch` compiles; a job's change rebuilds packages/jobs alone, core comes from the build.
const watchedPackages = ['packages/core', 'packages/jobs', 'apps/web', 'apps/worker', 'apps/scheduler'];

// `pnpm start | tee log`: Ctrl-C ends tee too, and the next write to the closed pipe fails with
// EPIPE. Unhandled, that error would end this script, and the exit handler below would kill the
// apps mid-job. A closed output only means nobody reads it any more: drop what would go there
// and carry on stopping as asked.
const outputs = { stdout: process.stdout, stderr: process.stderr };
const closedOutputs = new Set();
for (const [name, stream] of Object.entries(outputs)) stream.on('error', () => closedOutputs.add(name));

// Local-only credentials, so a first run needs no setup. The web refuses weaker ones.
const devDefaults = {
  API_TOKEN: 'dev-api-token-change-me',
  DASHBOARD_USER: 'admin',
  DASHBOARD_PASSWORD: 'dev-password-change-me',
  METRICS_TOKEN: 'dev-metrics-token-change-me',
};
const env = { ...process.env };
// Worker and scheduler serve their metrics on ports of their own; on one machine they need two,
// and a second stack on the same machine needs two others.
const metricsPorts = {
  worker: portFromEnv('WORKER_METRICS_PORT', '9101'),
  scheduler: portFromEnv('SCHEDULER_METRICS_PORT', '9102'),
};
// Its own directory per stack, so a second stack's Redis never loads the first one's data.
const redisDir = env.REDIS_DATA_DIR ? resolve(env.REDIS_DATA_DIR) : join(root, '.data', 'redis');
// Through Sentinel or to a Cluster the apps find Redis themselves: this script starts and probes
// only a plain REDIS_URL's.
const ownsRedisUrl = !env.REDIS_SENTINELS && !env.REDIS_CLUSTER_NODES;
if (ownsRedisUrl) env.REDIS_URL ||= 'redis://127.0.0.1:6379';
env.LOG_PRETTY ||= 'true';
// With the dev credentials, listen on this machine only (the web's own default is 0.0.0.0).
env.HOST ||= '127.0.0.1';
const defaulted = Object.keys(devDefaults).filter((name) => !env[name]);
for (const name of defaulted) env[name] = devDefaults[name];

const redisUrl = ownsRedisUrl ? parseRedisUrl(env.REDIS_URL) : undefined;
const children = new Map();
let stopping = false;
let forced = false;
let restarting = false;
let restartTimer;
let restarts = Promise.resolve();
/** The packages whose `tsc --watch` is compiling a change right now. */
const compiling = new Set();
const compiledSinceRestart = new Set();
const compiledOnce = new Set();
let watchSettled = false;

process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
// Children run in their own process groups (see `start`), so nothing else kills them: if this
// script dies of a bug, take them along rather than leave them running.
process.on('exit', () => {
  for (const child of children.values()) child.kill('SIGKILL');
});

for (const app of apps) {
  if (!existsSync(join(root, 'apps', app, 'dist', 'main.js'))) {
    fail(`apps/${app}/dist/main.js is missing: build first (\`pnpm build\`), or use \`pnpm start\`, which builds`);
  }
}

let startedRedis = false;
if (redisUrl && !(await redisAnswers(redisUrl))) {
  await startRedis();
  startedRedis = true;
}
// A Ctrl-C while Redis was starting leaves shutdown() to exit.
if (!stopping) {
  startApps();
  await printWhenReady();
}
if (!stopping && watchMode) for (const dir of watchedPackages) watchBuild(dir);

// ---------------------------------------------------------------------------

function startApps() {
  for (const app of apps) {
    const metricsEnv = metricsPorts[app] ? { METRICS_PORT: metricsPorts[app], METRICS_HOST: env.METRICS_HOST || '127.0.0.1' } : {};
    start(app, process.execPath, [join(root, 'apps', app, 'dist', 'main.js')], metricsEnv);
  }
}

/** `tsc --watch` of one package; once they have all settled, each compilation restarts the apps. */
function watchBuild(dir) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const child = start(`tsc:${dir.split('/')[1]}`, process.execPath, [tsc, '--watch', '--preserveWatchOutput', '-p', join(root, dir, 'tsconfig.build.json')]);
  child.stdout.on('data', (chunk) => {
    if (/File change detected/.test(chunk)) compiling.add(dir);
    if (!/Found \d+ errors?\. Watching for file changes\./.test(chunk)) return;
    compiling.delete(dir);
    compiledOnce.add(dir);
    if (watchSettled) return scheduleRestart(dir);
    // The first compilations rewrite core's and jobs' types, so the apps' compilers run again: the
    // apps started from the build are already current, so none of that restarts them.
    if (compiledOnce.size === watchedPackages.length && compiling.size === 0) {
      watchSettled = true;
      say('compiled; watching for changes');
    }
  });
}

/** Restarts the apps once the compilations a change sets off have settled (core's reach its dependents). */
function scheduleRestart(compiled) {
  compiledSinceRestart.add(compiled);
  clearTimeout(restartTimer);
  restartTimer = setTimeout(() => {
    // A change to jobs' or core's types makes the apps' compilers start too: restart once, after them.
    if (compiling.size > 0) return;
    const reason = `${[...compiledSinceRestart].join(', ')} compiled`;
    compiledSinceRestart.clear();
    restarts = restarts.then(() => restartApps(reason));
  }, 500);
}

async function restartApps(reason) {
  if (stopping) return;
  say(`${reason}: restarting the apps (running jobs finish first)`);
  const startedAt = Date.now();
  restarting = true;
  await Promise.all(apps.flatMap((name) => (children.has(name) ? [stop(name, children.get(name), graceMsOf())] : [])));
  restarting = false;
  if (stopping) return;
  startApps();
  say(`apps stopped in ${Date.now() - startedAt} ms and started again`);
}

function graceMsOf() {
  // The worker lets running jobs finish for SHUTDOWN_GRACE_MS; give it that and a margin.
  return (Number(env.SHUTDOWN_GRACE_MS) || 30_000) + 10_000;
}

/** Starts a child whose output lines are prefixed with its name; `extraEnv` is its alone. */
function start(name, command, args, extraEnv = {}) {
  // detached: its own process group, so the terminal's Ctrl-C reaches only this script, which
  // stops the apps first and Redis last; otherwise Redis could quit while the apps still drain.
  const child = spawn(command, args, { cwd: root, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  prefixLines(child.stdout, 'stdout', name);
  prefixLines(child.stderr, 'stderr', name);
  child.on('error', (error) => {
    say(`${name} could not start: ${error.message}`);
    void shutdown(1);
  });
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (stopping || (restarting && apps.includes(name))) return;
    if (watchMode && apps.includes(name)) {
      say(`${name} exited (${signal ?? `exit code ${code}`}); it starts again on the next change`);
      return;
    }
    say(`${name} exited on its own (${signal ?? `exit code ${code}`}); stopping everything`);
    void shutdown(1);
  });
  children.set(name, child);
  return child;
}

function prefixLines(from, output, name) {
  const prefix = `${name.padEnd(9)}| `;
  // tsc --watch frames each message with blank lines.
  const shown = name.startsWith('tsc:') ? (line) => line.trim() !== '' : () => true;
  let rest = '';
  from.setEncoding('utf8');
  // Read on even once `output` is closed: a child whose pipe fills up would block on its writes.
  from.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (shown(line)) write(output, prefix + line + '\n');
  });
  from.on('end', () => {
    if (rest) write(output, prefix + rest + '\n');
  });
}

/** Writes to our stdout or stderr, unless it is closed (see `closedOutputs`). */
function write(output, text) {
  if (!closedOutputs.has(output)) outputs[output].write(text);
}

function onSignal(signal) {
  if (stopping) {
    if (!forced) say(`${signal} again: killing what is left`);
    forced = true;
    for (const child of children.values()) child.kill('SIGKILL');
    return;
  }
  say(`${signal}: stopping the apps${startedRedis ? ', then Redis' : ''} (Ctrl-C again to kill them now)`);
  void shutdown(0);
}

/** SIGTERM to the apps (they drain), wait for them, then stop the Redis this script started. */
async function shutdown(exitCode) {
  if (stopping) return;
  stopping = true;
  clearTimeout(restartTimer);
  await restarts;
  const graceMs = graceMsOf();
  const appChildren = [...children].filter(([name]) => name !== 'redis');
  const results = await Promise.all(appChildren.map(([name, child]) => stop(name, child, graceMs)));
  const redis = children.get('redis');
  if (redis) {
    say('the apps have stopped; stopping Redis');
    results.push(await stop('redis', redis, 10_000));
  }
  // A clean stop exits 0; a process that had to be killed makes it 1.
  process.exit(exitCode || (results.every(Boolean) ? 0 : 1));
}

/** Resolves true if the child exited by itself within `graceMs` of SIGTERM. */
function stop(name, child, graceMs) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true);
    const timer = setTimeout(() => {
      say(`${name} did not stop within ${graceMs} ms; killing it`);
      child.kill('SIGKILL');
    }, graceMs);
    // 'close', not 'exit': it comes once the child's output is read too, so an app's last lines
    // are shown before Redis is stopped, and none is lost to process.exit.
    child.once('close', (_code, signal) => {
      clearTimeout(timer);
      resolve(!forced && signal !== 'SIGKILL');
    });
    child.kill('SIGTERM');
  });
}

async function startRedis() {
  const where = redactedUrl(redisUrl);
  const local = ['127.0.0.1', 'localhost', '::1'].includes(redisUrl.host);
  if (!local) fail(`nothing answers at ${where}. Start that Redis, or unset REDIS_URL to use a local one.`);
  if (redisUrl.tls) fail(`nothing answers at ${where}. pnpm start can only start a plain (redis://) Redis.`);
  if (!onPath('redis-server')) {
    fail(
      `nothing answers at ${where}, and redis-server is not on the PATH.\n` +
        '  Install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis),\n' +
        '  or start one yourself and point REDIS_URL at it.',
    );
  }
  mkdirSync(redisDir, { recursive: true });
  const args = ['--port', String(redisUrl.port), '--bind', '127.0.0.1', '-::1', '--appendonly', 'yes', '--dir', redisDir, '--loglevel', 'warning'];
  if (redisUrl.password) args.push('--requirepass', redisUrl.password);
  say(`nothing answers at ${where}: starting redis-server on port ${redisUrl.port} (data in ${shownRedisDir()})`);
  start('redis', 'redis-server', args);
  const deadline = Date.now() + 10_000;
  while (!stopping && !(await redisAnswers(redisUrl))) {
    if (Date.now() > deadline) {
      say(`redis-server did not answer on port ${redisUrl.port} within 10 s`);
      await shutdown(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** True if something speaking Redis answers a PING (an auth error counts: it is a Redis). */
function redisAnswers({ host, port, tls }) {
  return new Promise((resolve) => {
    const socket = tls
      ? tlsConnect({ host, port, servername: host, rejectUnauthorized: false })
      : createConnection({ host, port });
    const done = (answer) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once(tls ? 'secureConnect' : 'connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data[0] === 0x2b /* + */ || data[0] === 0x2d /* - */));
    socket.once('error', () => done(false));
    socket.once('end', () => done(false));
  });
}

/** Waits for the web's /healthz, then prints where everything is, once. */
async function printWhenReady() {
  const port = env.PORT || '3000';
  const base = `http://localhost:${port}`;
  const deadline = Date.now() + 60_000;
  let ready = false;
  while (!stopping && !ready && Date.now() < deadline) {
    ready = await answersOk(`http://127.0.0.1:${port}/healthz`);
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (stopping) return;
  const shown = (name) => (defaulted.includes(name) ? env[name] : `(your ${name})`);
  const lines = [
    '',
    ready ? 'Drumline is running.' : 'Drumline started, but the web has not answered /healthz yet; see its log above.',
    `  dashboard  ${base}/admin/queues   login ${shown('DASHBOARD_USER')} / ${shown('DASHBOARD_PASSWORD')}`,
    `  API docs   ${base}/docs           same login`,
    `  API        ${base}/api/jobs       header  Authorization: Bearer ${shown('API_TOKEN')}`,
    `  metrics    ${base}/metrics, worker :${metricsPorts.worker}, scheduler :${metricsPorts.scheduler}   header  Authorization: Bearer ${shown('METRICS_TOKEN')}`,
    redisUrl
      ? `  Redis      ${redactedUrl(redisUrl)}${startedRedis ? ` (started here, data in ${shownRedisDir()})` : ''}`
      : `  Redis      ${env.REDIS_CLUSTER_NODES ? `cluster ${env.REDIS_CLUSTER_NODES}` : `sentinels ${env.REDIS_SENTINELS}, primary ${env.REDIS_SENTINEL_NAME}`}`,
  ];
  if (defaulted.length > 0) {
    lines.push(`  ${defaulted.join(', ')}: local dev defaults; set them in the environment to change them.`);
  }
  if (watchMode) lines.push('Watching core, jobs and the apps: each change compiles, then the apps restart (running jobs finish first).');
  lines.push(`Ctrl-C (or SIGTERM: kill ${process.pid}) stops everything: the apps drain, then Redis stops.`, '');
  write('stdout', lines.join('\n') + '\n');
}

function answersOk(url) {
  return new Promise((resolve) => {
    const req = httpGet(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function parseRedisUrl(value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    fail(`REDIS_URL is not a URL: ${value}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') fail(`REDIS_URL must be a redis:// or rediss:// URL, not ${url.protocol}//`);
  return {
    url,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || 6379),
    tls: url.protocol === 'rediss:',
    password: url.password ? decodeURIComponent(url.password) : undefined,
  };
}

function redactedUrl({ url }) {
  const shown = new URL(url);
  if (shown.password) shown.password = '***';
  return shown.href.replace(/\/$/, '');
}

function shownRedisDir() {
  return relative(root, redisDir).startsWith('..') ? redisDir : relative(root, redisDir);
}

/** A TCP port from the environment, or the default; anything else stops the script naming the variable. */
function portFromEnv(name, fallback) {
  const value = env[name] || fallback;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) fail(`${name} must be a TCP port (1-65535), not ${JSON.stringify(value)}`);
  return value;
}

function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, command)));
}

function say(message) {
  write('stderr', `start    | ${message}\n`);
}

function fail(message) {
  say(message);
  process.exit(1);
}

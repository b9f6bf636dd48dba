// `pnpm start`: web + scheduler + worker on this machine, against REDIS_URL. Starts a
// redis-server (data under .data/redis) if nothing answers there. Ctrl-C stops everything.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';

const env = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  API_TOKEN: 'dev-api-token-change-me',
  DASHBOARD_USER: 'admin',
  DASHBOARD_PASSWORD: 'dev-password-change-me',
  ...process.env,
};
const redisUrl = new URL(env.REDIS_URL);
const children = new Map();
let stopping = false;

function redisAnswers() {
  return new Promise((resolve) => {
    const socket = createConnection({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG') || data.toString().includes('NOAUTH')); });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
  });
}

function run(name, command, args) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = `[${name}] `;
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) process.stdout.write(prefix + line + '\n');
    });
  }
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) {
      process.stderr.write(`${name} exited unexpectedly (${signal ?? code}); stopping everything\n`);
      void stop(1);
    }
  });
  children.set(name, child);
  return child;
}

async function stop(exitCode) {
  if (stopping) return;
  stopping = true;
  const apps = [...children].filter(([name]) => name !== 'redis');
  await Promise.all(apps.map(([, child]) => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); })));
  const redis = children.get('redis');
  if (redis) await new Promise((resolve) => { redis.once('exit', resolve); redis.kill('SIGTERM'); });
  process.exit(exitCode);
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

if (!(await redisAnswers())) {
  if (!['127.0.0.1', 'localhost'].includes(redisUrl.hostname)) {
    process.stderr.write(`nothing answers at ${env.REDIS_URL}; start that Redis or unset REDIS_URL\n`);
    process.exit(1);
  }
  mkdirSync('.data/redis', { recursive: true });
  const redis = run('redis', 'redis-server', ['--port', redisUrl.port || '6379', '--bind', '127.0.0.1', '--appendonly', 'yes', '--dir', '.data/redis']);
  redis.on('error', () => {
    process.stderr.write(`nothing answers at ${env.REDIS_URL} and redis-server is not on the PATH: install Redis or set REDIS_URL\n`);
    process.exit(1);
  });
  for (let i = 0; i < 50 && !(await redisAnswers()); i++) await new Promise((r) => setTimeout(r, 100));
}

for (const app of ['web', 'scheduler', 'worker']) run(app, process.execPath, [`apps/${app}/dist/main.js`]);
const port = env.PORT ?? '3000';
process.stdout.write(
  `\nDrumline is starting:\n  dashboard http://localhost:${port}/admin/queues  (user ${env.DASHBOARD_USER}, password ${env.DASHBOARD_PASSWORD})\n` +
    `  API docs  http://localhost:${port}/docs\n  API token ${env.API_TOKEN}\nCtrl-C stops everything.\n\n`,
);

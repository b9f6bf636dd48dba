import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { freePort, startApp, stopApps, type AppProcess } from './processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from './redis.js';

/**
 * A deployment of built apps as separate processes under a key prefix of its own: the web and,
 * when asked, workers and a scheduler. Tests talk to it over HTTP with its API token, as another
 * service or an operator's terminal does.
 */
export interface Deployment {
  /** The web's base URL, such as http://127.0.0.1:41234. */
  url: string;
  /** The web's API_TOKEN. */
  token: string;
  prefix: string;
  web: AppProcess;
  workers: AppProcess[];
  apps: AppProcess[];
}

export interface DeploymentOptions {
  workers?: number;
  scheduler?: boolean;
}

/** Starts the apps and resolves once each is ready: workers logged `worker ready`, the web answers /healthz (/readyz with a scheduler). */
export async function startDeployment(prefix: string, options: DeploymentOptions = {}): Promise<Deployment> {
  const token = `test-${randomBytes(16).toString('hex')}`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const common = { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, LOG_LEVEL: 'info', RELEASE: 'test' };
  const workers = Array.from({ length: options.workers ?? 0 }, (_, index) =>
    startApp('worker', { name: `worker-${index + 1}`, env: { ...common, WORKER_CONCURRENCY: '5', SHUTDOWN_GRACE_MS: '2000' } }),
  );
  const scheduler = options.scheduler ? [startApp('scheduler', { env: common })] : [];
  const web = startApp('web', {
    env: { ...common, PORT: String(port), HOST: '127.0.0.1', API_TOKEN: token, DASHBOARD_USER: 'test-admin', DASHBOARD_PASSWORD: 'test-password-long-enough' },
  });
  const apps = [web, ...workers, ...scheduler];
  try {
    await Promise.all(workers.map((worker) => worker.waitForLog((log) => log.msg === 'worker ready', 30_000)));
    await web.waitForHttp(`${url}/${options.scheduler ? 'readyz' : 'healthz'}`, 60_000);
  } catch (error) {
    await stopApps(apps);
    throw error;
  }
  return { url, token, prefix, web, workers, apps };
}

/**
 * One deployment for the whole test file: started before its tests, stopped after them, and its
 * keys deleted. Call at the top of the file; the getter works inside tests.
 */
export function deploymentForThisFile(name: string, options: DeploymentOptions = {}): () => Deployment {
  const prefix = uniquePrefix(name);
  let deployment: Deployment | undefined;
  beforeAll(async () => {
    deployment = await startDeployment(prefix, options);
  });
  afterAll(async () => {
    await stopApps(deployment?.apps ?? []);
    const redis = connectTestRedis();
    await deleteKeys(redis, prefix);
    await redis.quit();
  });
  return () => {
    if (!deployment) throw new Error('the deployment is not started yet: use it inside a test');
    return deployment;
  };
}

/** Creates an api-owned schedule with `PUT /api/schedules/:id`, as an operator would; throws unless it answers 201. */
export async function putSchedule(deployment: Deployment, id: string, body: object): Promise<void> {
  const response = await fetch(`${deployment.url}/api/schedules/${encodeURIComponent(id)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${deployment.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) throw new Error(`PUT /api/schedules/${id} answered ${response.status}: ${await response.text()}`);
}

import { ConfigError, createJobRegistry, createMetricsRegistry, createQueueBacklogGauge, createQueueJobsGauge, QUEUE_STATES, type Env } from '@drumline/core/runtime';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { jobs } from '@drumline/jobs';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadSchedulerConfig, schedulerEnvSchema } from '../../apps/scheduler/src/config.js';
import { loadConfig as loadWebConfig, webEnvSchema } from '../../apps/web/src/config.js';
import { loadWorkerConfig, workerEnvSchema } from '../../apps/worker/src/config.js';
import { kustomize, readManifests, templateOf, type Container, type Manifest, type PodSpec } from './kustomize.js';
import { REPO_ROOT } from '../support/processes.js';

// deploy/kubernetes, checked offline: each object against the schemas of Kubernetes 1.33
// (kubernetes-models 4.5.1, generated from its OpenAPI) and of KEDA 2.10.1's CRDs
// (@kubernetes-models/keda 0.4.2), then what a user relies on across the objects.
const DEPLOY = join(REPO_ROOT, 'deploy/kubernetes');
const KUSTOMIZATIONS = ['base', ...readdirSync(join(DEPLOY, 'overlays')).map((overlay) => `overlays/${overlay}`)];
const rendered = new Map(KUSTOMIZATIONS.map((dir) => [dir, kustomize(join(DEPLOY, dir))]));

/** Each kind the manifests use, with the model that validates it; any other kind fails the test. */
const MODELS: Record<string, { new (data: never): { validate(): void } }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

/** The apps, by the name of their container, with how each reads its environment. */
const APPS: Record<string, (env: Env) => Record<string, unknown>> = {
  web: (env) => loadWebConfig(env),
  worker: (env) => loadWorkerConfig(env, createJobRegistry(jobs)),
  scheduler: (env) => loadSchedulerConfig(env),
};
/** The variables each app's schema knows (zod drops any other without a word). */
const READS: Record<string, string[]> = {
  web: Object.keys(webEnvSchema.shape),
  worker: Object.keys(workerEnvSchema.shape),
  scheduler: Object.keys(schedulerEnvSchema.shape),
};

/** Where the secrets' placeholders stand, values the apps accept, for the checks of everything else. */
const STAND_INS: Record<string, string> = {
  API_TOKEN: 'stand-in-api-token-0123456789',
  METRICS_TOKEN: 'stand-in-metrics-token-0123456789',
  DASHBOARD_PASSWORD: 'stand-in-password-0123456789',
};
const PLACEHOLDER = 'change-me';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.yaml') && entry.name !== 'kustomization.yaml' ? [path] : [];
  });
}

function validate(manifest: Manifest): void {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!Model) throw new Error(`${manifest.apiVersion} ${manifest.kind} ${manifest.metadata.name}: no schema for this kind; add its model to MODELS`);
  new Model(manifest as never).validate();
}

const find = (manifests: Manifest[], kind: string, name: string) => {
  const found = manifests.find((manifest) => manifest.kind === kind && manifest.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in ${manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`);
  return found;
};
const deployments = (manifests: Manifest[]) => manifests.filter((manifest) => manifest.kind === 'Deployment');
const podSpec = (deployment: Manifest) => templateOf(deployment)?.spec as PodSpec;
const podLabels = (deployment: Manifest) => templateOf(deployment)?.metadata?.labels ?? {};
const only = (deployment: Manifest): Container => {
  const [container, ...more] = podSpec(deployment).containers;
  if (!container || more.length > 0) throw new Error(`${deployment.metadata.name}: expected one container`);
  return container;
};
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);

/** The environment a container gets, its ConfigMap and Secret references read from the rendered objects. */
function environment(manifests: Manifest[], container: Container, standIns = true): Env {
  const data = (kind: string, name: string, key: string) => {
    const value = (find(manifests, kind, name).data as Record<string, string>)[key];
    if (value === undefined) throw new Error(`${container.name}: ${kind} ${name} has no key ${key}`);
    return kind === 'Secret' ? Buffer.from(value, 'base64').toString() : value;
  };
  return Object.fromEntries(
    (container.env ?? []).map((variable) => {
      const { configMapKeyRef: fromConfig, secretKeyRef: fromSecret } = variable.valueFrom ?? {};
      let value = variable.value;
      if (fromConfig) value = data('ConfigMap', fromConfig.name, fromConfig.key);
      if (fromSecret) value = data('Secret', fromSecret.name, fromSecret.key);
      if (standIns && value === PLACEHOLDER) value = STAND_INS[variable.name] ?? value;
      return [variable.name, value];
    }),
  );
}

/** A probe's port as a number: a name is looked up in the container's ports. */
function probePort(container: Container, probe: string): { path: string; port: number } {
  const { path, port } = (container[probe] as { httpGet: { path: string; port: number | string } }).httpGet;
  const number = typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
  if (number === undefined) throw new Error(`${container.name}: ${probe} names port ${port}, which the container does not declare`);
  return { path, port: number };
}

describe.each(KUSTOMIZATIONS)('deploy/kubernetes/%s', (dir) => {
  const manifests = rendered.get(dir) ?? [];

  it('renders, with the web, worker and scheduler Deployments and their Service, autoscalers, budget, ConfigMap and Secret', () => {
    const kinds = manifests.map((manifest) => `${manifest.kind}/${manifest.metadata.name.replace(/-[a-z0-9]{10}$/, '')}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/drumline-web',
        'Service/drumline-web',
        'HorizontalPodAutoscaler/drumline-web',
        'Deployment/drumline-worker',
        'ScaledObject/drumline-worker',
        'Deployment/drumline-scheduler',
        'PodDisruptionBudget/drumline-scheduler',
        'ConfigMap/drumline-config',
        'Secret/drumline-secrets',
      ]),
    );
  });

  it('every manifest is a valid Kubernetes 1.33 object, and the ScaledObject a valid KEDA 2.10 one', () => {
    for (const manifest of manifests) expect(() => validate(manifest), `${manifest.kind} ${manifest.metadata.name}`).not.toThrow();
  });

  it("every env variable a container sets is one its app's config reads, and the app accepts its value", () => {
    for (const deployment of deployments(manifests)) {
      const container = only(deployment);
      const load = APPS[container.name];
      if (!load) throw new Error(`container ${container.name} is none of the apps: ${Object.keys(APPS).join(', ')}`);
      const env = environment(manifests, container);
      expect(READS[container.name]).toEqual(expect.arrayContaining(Object.keys(env)));
      expect(() => load(env), container.name).not.toThrow();
    }
  });

  it('the placeholder secrets are refused by every app, so a deployment whose secrets were never set does not start', () => {
    for (const deployment of deployments(manifests)) {
      const container = only(deployment);
      const env = environment(manifests, container, false);
      const placeholders = Object.keys(env).filter((name) => env[name] === PLACEHOLDER);
      expect(placeholders.length, `${container.name} gets a placeholder`).toBeGreaterThan(0);
      let error: unknown;
      try {
        APPS[container.name]?.(env);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain(placeholders[0]);
    }
  });

  it('the scheduler runs 2 replicas, one at a time in rollouts, under a PodDisruptionBudget of minAvailable 1 that selects its pods', () => {
    const scheduler = find(manifests, 'Deployment', 'drumline-scheduler');
    const spec = scheduler.spec as { replicas: number; strategy: { rollingUpdate: { maxUnavailable: number } } };
    expect(spec.replicas).toBe(2);
    expect(spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    const budgets = manifests.filter((manifest) => manifest.kind === 'PodDisruptionBudget');
    const selecting = budgets.filter((budget) => selects((budget.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, podLabels(scheduler)));
    expect(selecting.map((budget) => (budget.spec as { minAvailable: number }).minAvailable)).toEqual([1]);
    for (const other of deployments(manifests).filter((deployment) => deployment !== scheduler)) {
      expect(selecting.some((budget) => selects((budget.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, podLabels(other)))).toBe(false);
    }
  });

  it("each pod's terminationGracePeriodSeconds outlasts its shutdown: the worker's SHUTDOWN_GRACE_MS, 5 s of requeue and 5 s of alerts", () => {
    const grace = (name: string) => podSpec(find(manifests, 'Deployment', name)).terminationGracePeriodSeconds as number;
    const worker = loadWorkerConfig(environment(manifests, only(find(manifests, 'Deployment', 'drumline-worker'))), createJobRegistry(jobs));
    expect(grace('drumline-worker')).toBeGreaterThan(worker.SHUTDOWN_GRACE_MS / 1000 + 5 + 5);
    // The web: preStop's sleep, then close-with-grace's 10 s for the requests in flight.
    const preStop = (only(find(manifests, 'Deployment', 'drumline-web')).lifecycle as { preStop: { exec: { command: string[] } } }).preStop.exec.command;
    expect(preStop[0]).toBe('sleep');
    expect(grace('drumline-web')).toBeGreaterThan(Number(preStop[1]) + 10);
    // The scheduler: its last alerts, 5 s at most.
    expect(grace('drumline-scheduler')).toBeGreaterThan(5);
  });

  it("the web Service selects the web's pods alone, on the port the web listens on", () => {
    const service = find(manifests, 'Service', 'drumline-web');
    const spec = service.spec as { selector: Record<string, string>; ports: { targetPort: string | number }[] };
    const selected = deployments(manifests).filter((deployment) => selects(spec.selector, podLabels(deployment)));
    expect(selected.map((deployment) => deployment.metadata.name)).toEqual(['drumline-web']);
    const web = only(find(manifests, 'Deployment', 'drumline-web'));
    const listens = Number(loadWebConfig(environment(manifests, web)).PORT);
    for (const { targetPort } of spec.ports) {
      const port = typeof targetPort === 'number' ? targetPort : web.ports?.find((p) => p.name === targetPort)?.containerPort;
      expect(port).toBe(listens);
    }
  });

  it('every Deployment selects its own pods, and every selector and template carries the same app and component', () => {
    for (const deployment of deployments(manifests)) {
      const selector = (deployment.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      expect(selects(selector, podLabels(deployment)), deployment.metadata.name).toBe(true);
      expect(selector['app.kubernetes.io/component']).toBe(only(deployment).name);
    }
  });

  it('probes ask /healthz (liveness) and /readyz (readiness) on the port each app serves them: the web its PORT, the others METRICS_PORT', () => {
    for (const deployment of deployments(manifests)) {
      const container = only(deployment);
      const config = APPS[container.name]?.(environment(manifests, container)) ?? {};
      const served = Number(container.name === 'web' ? config.PORT : config.METRICS_PORT);
      expect(probePort(container, 'livenessProbe'), container.name).toEqual({ path: '/healthz', port: served });
      expect(probePort(container, 'readinessProbe'), container.name).toEqual({ path: '/readyz', port: served });
      // No metrics port without a token: the apps refuse it, so the probes would have nothing to ask.
      if (container.name !== 'web') expect(config.METRICS_TOKEN).toBeDefined();
    }
  });

  it('the HPA and the ScaledObject scale Deployments that exist and leave their replica count to the autoscaler', () => {
    const hpa = find(manifests, 'HorizontalPodAutoscaler', 'drumline-web').spec as { scaleTargetRef: { kind: string; name: string } };
    const scaled = find(manifests, 'ScaledObject', 'drumline-worker').spec as { scaleTargetRef: { name: string; kind?: string } };
    for (const target of [hpa.scaleTargetRef, scaled.scaleTargetRef]) {
      expect(target.kind ?? 'Deployment').toBe('Deployment');
      expect((find(manifests, 'Deployment', target.name).spec as { replicas?: number }).replicas).toBeUndefined();
    }
  });

  it('the workers scale on the backlog the web exports (waiting, prioritized and due delayed) plus the running jobs', () => {
    const { triggers } = find(manifests, 'ScaledObject', 'drumline-worker').spec as { triggers: { type: string; metadata: { query: string } }[] };
    expect(triggers.map((trigger) => trigger.type)).toEqual(['prometheus']);
    const query = triggers[0]?.metadata.query ?? '';
    // The series the query names are those the web registers, with the labels it sets.
    const registry = createMetricsRegistry('web');
    createQueueBacklogGauge(registry, ['default'], async () => 0);
    createQueueJobsGauge(registry, ['default'], async () => ({}));
    const names = [...query.matchAll(/([a-z_:]+)\{([^}]*)\}/g)];
    expect(names.map((match) => match[1])).toEqual(['drumline_queue_backlog', 'drumline_queue_jobs']);
    for (const [, name, matchers] of names) {
      expect(registry.getSingleMetric(name ?? ''), name).toBeDefined();
      expect(matchers).toContain('app="web"');
    }
    expect(QUEUE_STATES).toContain(/state="(\w+)"/.exec(query)?.[1]);
    expect(/state="(\w+)"/.exec(query)?.[1]).toBe('active');
  });

  it('each container runs the Dockerfile target of its name, as the non-root node user, with memory requested and capped', () => {
    const targets = [...readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').matchAll(/^FROM \S+ AS (\w+)$/gm)].map((match) => match[1]);
    const sources = [...sourceFiles(join(DEPLOY, 'base'))].flatMap(readManifests);
    for (const deployment of deployments(manifests)) {
      const container = only(deployment);
      expect(targets).toContain(container.name);
      const source = only(find(sources, 'Deployment', deployment.metadata.name));
      expect(source.image).toBe(`drumline-${container.name}`);
      expect(podSpec(deployment).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      const { requests, limits } = container.resources as { requests: { memory: string }; limits: { memory: string } };
      const mebibytes = (quantity: string) => Number(/^(\d+)Mi$/.exec(quantity)?.[1]);
      expect(mebibytes(requests.memory)).toBeGreaterThan(0);
      expect(mebibytes(limits.memory)).toBeGreaterThan(mebibytes(requests.memory));
    }
  });
});

describe('deploy/kubernetes sources', () => {
  it('every source manifest on its own is a valid Kubernetes 1.33 (or KEDA 2.10) object', () => {
    const files = sourceFiles(DEPLOY);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) for (const manifest of readManifests(file)) expect(() => validate(manifest), `${file}: ${manifest.kind}`).not.toThrow();
  });

  // The renderer above is ours (no kustomize comes from npm or Debian); kubectl's is the reference.
  const kubectl = (() => {
    try {
      execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!kubectl).each(KUSTOMIZATIONS)('%s renders as `kubectl kustomize` renders it, up to the hash suffixes of generated names', (dir) => {
    const theirs = (execFileSync('kubectl', ['kustomize', join(DEPLOY, dir)], { encoding: 'utf8' }).split(/^---$/m).map((doc) => parse(doc) as Manifest));
    expect(normalized(rendered.get(dir) ?? [])).toEqual(normalized(theirs));
  });
});

/** Sorted by kind and name, each generated name's hash suffix replaced by `<hash>` wherever it appears. */
function normalized(manifests: Manifest[]): unknown[] {
  let text = JSON.stringify(manifests);
  for (const manifest of manifests) {
    if (manifest.kind !== 'ConfigMap' && manifest.kind !== 'Secret') continue;
    text = text.replaceAll(`"${manifest.metadata.name}"`, `"${manifest.metadata.name.replace(/-[a-z0-9]{10}$/, '-<hash>')}"`);
  }
  return (JSON.parse(text) as Manifest[]).sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
}

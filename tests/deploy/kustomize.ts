import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/**
 * The smallest kustomize that renders deploy/kubernetes: exactly the fields its kustomizations use
 * (resources, namespace, labels, images, configMapGenerator, secretGenerator), and an error naming
 * any other, so a kustomization that starts using more fails here instead of rendering wrong.
 *
 * Why a renderer of our own: CI reaches the npm registry and Debian's packages only, and neither has
 * kustomize (Debian's kubernetes-client is kubectl 1.20, whose kustomize 2.0 cannot read a folder in
 * `resources`). Where a kubectl is installed, tests/deploy/kubernetes.test.ts checks this renderer
 * against `kubectl kustomize`. The one difference: a generated name's hash suffix is computed the
 * way kustomize describes it (sha256 of the JSON of kind, name, type and data, 10 characters), but
 * is not promised to be kustomize's own.
 */

/** A Kubernetes object, as parsed from YAML. */
export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<string, unknown>;

interface Generator {
  name: string;
  behavior?: 'create' | 'merge' | 'replace';
  literals?: string[];
  envs?: string[];
  type?: string;
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  resources?: string[];
  namespace?: string;
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }[];
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
  configMapGenerator?: Generator[];
  secretGenerator?: Generator[];
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'labels', 'images', 'configMapGenerator', 'secretGenerator']);
const CLUSTER_SCOPED = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass', 'StorageClass']);
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

/** A rendered object, and whether a generator made it (its name then gets the hash suffix). */
interface Rendered {
  manifest: Manifest;
  generated: boolean;
}

/** Parses every YAML document of a file (anchors resolved), skipping empty ones. */
export function readManifests(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`);
      // Through JSON: an alias is a copy, not the same object, so that editing one leaves the other.
      return JSON.parse(JSON.stringify(document.toJS({ maxAliasCount: 100 }) ?? null)) as Manifest | null;
    })
    .filter((manifest): manifest is Manifest => manifest !== null);
}

/** Renders the kustomization in `dir` as `kubectl kustomize dir` would. */
export function kustomize(dir: string): Manifest[] {
  const rendered = build(dir);
  const renames = new Map<string, string>();
  for (const { manifest, generated } of rendered) {
    if (!generated) continue;
    const name = `${manifest.metadata.name}-${contentHash(manifest)}`;
    renames.set(`${manifest.kind}/${manifest.metadata.name}`, name);
    manifest.metadata.name = name;
  }
  for (const { manifest } of rendered) for (const pod of podSpecs(manifest)) renameReferences(pod, renames);
  return rendered.map(({ manifest }) => manifest);
}

function build(dir: string): Rendered[] {
  const k = readManifests(join(dir, 'kustomization.yaml'))[0] as unknown as Kustomization;
  const unsupported = Object.keys(k).filter((key) => !SUPPORTED.has(key));
  if (unsupported.length > 0) throw new Error(`${dir}/kustomization.yaml: the test renderer does not do ${unsupported.join(', ')}: extend tests/deploy/kustomize.ts`);

  const out: Rendered[] = [];
  for (const entry of k.resources ?? []) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...build(path));
    else out.push(...readManifests(path).map((manifest) => ({ manifest, generated: false })));
  }
  for (const generator of k.configMapGenerator ?? []) generate(out, dir, 'ConfigMap', generator);
  for (const generator of k.secretGenerator ?? []) generate(out, dir, 'Secret', generator);

  for (const { manifest } of out) {
    if (k.namespace && !CLUSTER_SCOPED.has(manifest.kind)) manifest.metadata.namespace = k.namespace;
    for (const label of k.labels ?? []) {
      if (label.includeSelectors) throw new Error(`${dir}/kustomization.yaml: the test renderer does not do labels with includeSelectors`);
      manifest.metadata.labels = { ...manifest.metadata.labels, ...label.pairs };
      const template = templateOf(manifest);
      if (label.includeTemplates && template) template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, ...label.pairs } };
    }
    for (const pod of podSpecs(manifest)) for (const container of containersOf(pod)) container.image = retag(container.image, k.images ?? []);
  }
  return out;
}

function generate(out: Rendered[], dir: string, kind: 'ConfigMap' | 'Secret', generator: Generator): void {
  const pairs: [string, string][] = [...(generator.literals ?? []), ...(generator.envs ?? []).flatMap((file) => envLines(join(dir, file)))].map((line) => {
    const at = line.indexOf('=');
    if (at < 1) throw new Error(`${dir}: ${kind} ${generator.name}: "${line}" is not KEY=VALUE`);
    return [line.slice(0, at), line.slice(at + 1)];
  });
  const encode = (value: string) => (kind === 'Secret' ? Buffer.from(value).toString('base64') : value);
  const data = Object.fromEntries(pairs.map(([key, value]) => [key, encode(value)]));
  const behavior = generator.behavior ?? 'create';
  const existing = out.find(({ manifest, generated }) => generated && manifest.kind === kind && manifest.metadata.name === generator.name);
  if (behavior === 'create') {
    if (existing) throw new Error(`${dir}: ${kind} ${generator.name} is generated twice (merge or replace it instead)`);
    const manifest: Manifest = { apiVersion: 'v1', kind, metadata: { name: generator.name }, data, ...(kind === 'Secret' ? { type: generator.type ?? 'Opaque' } : {}) };
    out.push({ manifest, generated: true });
    return;
  }
  if (!existing) throw new Error(`${dir}: ${kind} ${generator.name} has behavior ${behavior} but no base generates it`);
  existing.manifest.data = behavior === 'merge' ? { ...(existing.manifest.data as Record<string, string>), ...data } : data;
}

function envLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** The suffix of a generated name: kustomize's alphabet over the sha256 of what the object holds. */
function contentHash(manifest: Manifest): string {
  const sorted = (data: unknown) => Object.fromEntries(Object.entries((data ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : 1)));
  const fields = { data: sorted(manifest.data), kind: manifest.kind, name: manifest.metadata.name, ...(manifest.kind === 'Secret' ? { type: manifest.type } : {}) };
  const hex = createHash('sha256').update(JSON.stringify(fields)).digest('hex');
  const letters: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return [...hex.slice(0, 10)].map((c) => letters[c] ?? c).join('');
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec?: PodSpec;
}

export interface Container {
  name: string;
  image: string;
  env?: { name: string; value?: string; valueFrom?: { configMapKeyRef?: { name: string; key: string }; secretKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  [field: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: { configMap?: { name: string }; secret?: { secretName: string } }[];
  [field: string]: unknown;
}

/** The pod template of a workload, or undefined for any other kind. */
export function templateOf(manifest: Manifest): PodTemplate | undefined {
  return WORKLOADS.has(manifest.kind) ? (manifest.spec as { template?: PodTemplate } | undefined)?.template : undefined;
}

function podSpecs(manifest: Manifest): PodSpec[] {
  const spec = templateOf(manifest)?.spec;
  return spec ? [spec] : [];
}

function containersOf(pod: PodSpec): Container[] {
  return [...pod.containers, ...(pod.initContainers ?? [])];
}

function retag(image: string, images: NonNullable<Kustomization['images']>): string {
  const at = image.indexOf('@');
  const reference = at >= 0 ? image.slice(0, at) : image;
  const colon = reference.lastIndexOf(':');
  const hasTag = colon > reference.lastIndexOf('/');
  const name = hasTag ? reference.slice(0, colon) : reference;
  const rule = images.find((candidate) => candidate.name === name);
  if (!rule) return image;
  let tag = hasTag ? reference.slice(colon + 1) : undefined;
  let digest = at >= 0 ? image.slice(at + 1) : undefined;
  if (rule.newTag) [tag, digest] = [rule.newTag, undefined];
  if (rule.digest) [tag, digest] = [undefined, rule.digest];
  return `${rule.newName ?? name}${digest ? `@${digest}` : tag ? `:${tag}` : ''}`;
}

function renameReferences(pod: PodSpec, renames: Map<string, string>): void {
  const rename = (kind: string, name: string) => renames.get(`${kind}/${name}`) ?? name;
  for (const container of containersOf(pod)) {
    for (const variable of container.env ?? []) {
      const from = variable.valueFrom;
      if (from?.configMapKeyRef) from.configMapKeyRef.name = rename('ConfigMap', from.configMapKeyRef.name);
      if (from?.secretKeyRef) from.secretKeyRef.name = rename('Secret', from.secretKeyRef.name);
    }
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef) source.configMapRef.name = rename('ConfigMap', source.configMapRef.name);
      if (source.secretRef) source.secretRef.name = rename('Secret', source.secretRef.name);
    }
  }
  for (const volume of pod.volumes ?? []) {
    if (volume.configMap) volume.configMap.name = rename('ConfigMap', volume.configMap.name);
    if (volume.secret) volume.secret.secretName = rename('Secret', volume.secret.secretName);
  }
}

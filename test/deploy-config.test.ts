/**
 * Deployment files against the code they deploy and against the formats' own schemas:
 * docker-compose.yml, k8s/ (kustomize base, overlays, components), the three Dockerfiles,
 * deploy/prometheus and deploy/grafana. No Docker engine, cluster or network is needed:
 *
 * - every YAML/JSON document parses;
 * - docker-compose.yml validates against the Compose Specification's JSON schema (the copy of
 *   compose-spec/schema/compose-spec.json that the `dclint` npm package ships);
 * - every Kubernetes object validates against the Kubernetes v1.33.0 OpenAPI schemas, compiled
 *   into validators by the `kubernetes-models` npm package, and the KEDA ScaledObject against
 *   KEDA 2.10.1's CRD schema (`@kubernetes-models/keda`). Those validators check types, enums and
 *   required fields but, like the OpenAPI schemas themselves, accept unknown fields; so the same
 *   packages' TypeScript declarations (generated from the same schemas) are used as well: each
 *   object is type-checked as an object literal, where an unknown or misspelt field is an error;
 * - every env name set is one the service reads, every name a service reads is set (each
 *   deployment lists every knob), and every value passes the services' own zod schemas;
 * - images, ports, probes, Services, NetworkPolicies, the HPA, PDBs and the KEDA ScaledObject
 *   agree with each other and with the services;
 * - where this machine has them: `kubectl kustomize` renders each overlay (and the S3 component),
 *   whose output is validated again; `promtool check config` checks the Prometheus file.
 *
 * No schema package exists for kustomization files (rendering them is their check), for
 * Grafana dashboards (parsed and checked against the metrics the services define) or for
 * Dockerfiles (parsed as Docker reads them).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { QUEUE_PREFIX, QUEUES } from '../packages/contracts/src';
import { s3OptionsFromUrl } from '../packages/storage/src/s3-storage';
import { StorageEnv } from '../packages/storage/src/settings';
import { GatewayEnv, loadGatewayConfig } from '../services/gateway/src/config';
import { DispatcherEnv, loadDispatcherConfig } from '../services/webhook-dispatcher/src/config';
import { loadPostprocessConfig, PostprocessEnv } from '../services/postprocess/src/config';
import { loadWorkerConfig, WorkerEnv } from '../services/worker/src/config';

const ROOT = path.resolve(__dirname, '..');
const K8S = path.join(ROOT, 'k8s');
const BASE = path.join(K8S, 'base');

type Service = 'gateway' | 'worker' | 'dispatcher' | 'postprocess';
type Json = any; // parsed YAML: shapes are what the assertions check

/** A value for each variable that compose interpolates without a default. */
const SAMPLE_VARS: Record<string, string> = {
  JWT_SECRET: 'j'.repeat(48),
  MINIO_ROOT_USER: 'talkie-root',
  MINIO_ROOT_PASSWORD: 'r'.repeat(24),
  TALKIE_S3_ACCESS_KEY: 'talkie-app',
  TALKIE_S3_SECRET_KEY: 's'.repeat(24),
};

/**
 * Env names a deployment may set that no service schema has: node reads them itself. Every
 * setting of Talkie's own, the packages' (storage, ffmpeg, webhook retries) included, is in the
 * schemas (issue 19); anything else is a typo (the schema would silently ignore it).
 */
const READ_BY_NODE: Record<Service, Record<string, string>> = {
  gateway: {
    NODE_ENV: 'Node libraries (express); the images set production',
    NODE_OPTIONS: 'node itself (heap size and the like)',
  },
  worker: {
    NODE_ENV: 'Node libraries; the images set production',
    NODE_OPTIONS: 'node itself (heap size and the like)',
  },
  dispatcher: {
    NODE_ENV: 'Node libraries; the image sets production',
    NODE_OPTIONS: 'node itself (heap size and the like)',
    NODE_EXTRA_CA_CERTS: 'node itself: extra CAs for integrators behind a private CA',
  },
  postprocess: {
    NODE_ENV: 'Node libraries; the image sets production',
    NODE_OPTIONS: 'node itself (heap size and the like)',
    NODE_EXTRA_CA_CERTS: 'node itself: extra CAs for an LLM endpoint behind a private CA',
  },
};

const SCHEMA_KEYS: Record<Service, Set<string>> = {
  gateway: new Set(Object.keys(GatewayEnv.shape)),
  worker: new Set(Object.keys(WorkerEnv.shape)),
  dispatcher: new Set(Object.keys(DispatcherEnv.shape)),
  postprocess: new Set(Object.keys(PostprocessEnv.shape)),
};

/** Package-owned settings (MediaEnv, StorageEnv) no deployment sets, with why. */
const PACKAGE_DEFAULTS = {
  FFMPEG_PATH: "@talkie/media: the images' ffmpeg is on PATH",
  FFPROBE_PATH: "@talkie/media: the images' ffprobe is on PATH",
  TALKIE_PROBE_PATH: '@talkie/media: the gateway image ships talkie-probe where residentProberPath looks (without one: ffprobe)',
  AWS_SESSION_TOKEN: '@talkie/storage: static keys of a bucket-scoped user, no temporary credentials',
};

/** Names a deployment file may leave out, with why. Everything else each service reads must be set. */
const NOT_SET_IN_COMPOSE: Record<Service, Record<string, string>> = {
  gateway: {
    JWT_PUBLIC_KEY: 'an alternative to the required JWT_SECRET (exactly one of the three may be set)',
    JWKS_URL: 'an alternative to the required JWT_SECRET (exactly one of the three may be set)',
    ...PACKAGE_DEFAULTS,
    AWS_REQUEST_CHECKSUM_CALCULATION: "@talkie/storage: MinIO accepts the SDK's default checksums",
    AWS_RESPONSE_CHECKSUM_VALIDATION: "@talkie/storage: MinIO accepts the SDK's default checksums",
  },
  worker: {
    ...PACKAGE_DEFAULTS,
    AWS_REQUEST_CHECKSUM_CALCULATION: "@talkie/storage: MinIO accepts the SDK's default checksums",
    AWS_RESPONSE_CHECKSUM_VALIDATION: "@talkie/storage: MinIO accepts the SDK's default checksums",
  },
  dispatcher: {},
  postprocess: {},
};

/**
 * Names k8s/ may leave out, for a storage URL: the S3 settings only matter with s3:// (the base
 * stores on a shared volume; k8s/components/s3 adds them).
 */
function notSetInK8s(service: Service, storageUrl: string | undefined): Record<string, string> {
  if (service !== 'gateway' && service !== 'worker') return {};
  const s3 = Object.keys(StorageEnv).filter((name) => name !== 'STORAGE_URL');
  const fileStorage = storageUrl?.startsWith('file:') ? Object.fromEntries(s3.map((name) => [name, '@talkie/storage: read only for s3:// storage'])) : {};
  return { ...PACKAGE_DEFAULTS, ...fileStorage };
}

const read = (file: string) => readFileSync(file, 'utf8');
const rel = (file: string) => path.relative(ROOT, file);

function unknownEnvNames(service: Service, names: Iterable<string>): string[] {
  return [...names].filter((name) => !SCHEMA_KEYS[service].has(name) && !(name in READ_BY_NODE[service]));
}

function missingEnvNames(service: Service, names: Iterable<string>, allowed: Record<string, string> = {}): string[] {
  const set = new Set(names);
  return [...SCHEMA_KEYS[service]].filter((name) => !set.has(name) && !(name in allowed));
}

function loadConfig(service: Service, env: Record<string, string>) {
  if (service === 'gateway') return loadGatewayConfig(env);
  if (service === 'worker') return loadWorkerConfig(env);
  if (service === 'postprocess') return loadPostprocessConfig(env);
  return loadDispatcherConfig(env);
}

/** The storage adapter's own reading of an env: throws on a bad STORAGE_URL or S3 setting. */
function checkStorageEnv(env: Record<string, string>) {
  const url = new URL(env.STORAGE_URL);
  if (url.protocol === 's3:') return s3OptionsFromUrl(url, env);
  expect(url.protocol).toBe('file:');
  return undefined;
}

/** Every document of a YAML file, failing on any parse error or warning. */
function yamlDocs(file: string): Json[] {
  const docs = parseAllDocuments(read(file), { prettyErrors: true, merge: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    const problems = [...doc.errors, ...doc.warnings].map((e) => e.message);
    if (problems.length) throw new Error(`${rel(file)}: ${problems.join('\n')}`);
  }
  return list.map((doc) => doc.toJS()).filter((doc) => doc !== null && doc !== undefined);
}

function filesUnder(dir: string, pattern: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(full, pattern);
    return pattern.test(entry.name) ? [full] : [];
  });
}
const yamlFilesUnder = (dir: string) => filesUnder(dir, /\.ya?ml$/);

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;

// ---------------------------------------------------------------------------------------------
// The schemas (npm packages, pinned exactly in package.json; nothing is fetched at test time)

const pkgVersion = (name: string): string => JSON.parse(read(require.resolve(`${name}/package.json`))).version;

const COMPOSE_SCHEMA_FILE = path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');

function composeValidator() {
  const schema = JSON.parse(read(COMPOSE_SCHEMA_FILE));
  delete schema.$schema; // draft-07, which ajv's default class is; ajv does not know the https spelling of its id
  const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
  addFormats(ajv);
  return ajv.compile(schema);
}

/** kubernetes-models' module for a Kubernetes kind: `v1/ConfigMap`, `apps/v1/Deployment`, ... */
function modelModule(apiVersion: string, kind: string): string {
  if (apiVersion.startsWith('keda.sh/')) return `@kubernetes-models/keda/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** Validates one object with the generated validator; returns the problems (none: valid). */
function schemaProblems(object: Json): string[] {
  const where = `${object?.kind}/${object?.metadata?.name}`;
  let Model: (new (data: Json) => { validate(): void }) | undefined;
  try {
    Model = require(modelModule(object.apiVersion, object.kind))[object.kind];
  } catch {
    return [`${where}: no schema for ${object.apiVersion} ${object.kind}`];
  }
  if (!Model) return [`${where}: no schema for ${object.apiVersion} ${object.kind}`];
  try {
    new Model(object).validate();
    return [];
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
}

/**
 * Type-checks objects against the packages' TypeScript declarations, as object literals, so that
 * an unknown field (which the OpenAPI validators accept) is reported. One program for all of them.
 */
function strictFieldProblems(objects: Json[]): string[] {
  const file = path.join(ROOT, 'test', '__deploy_objects__.ts');
  const lines: string[] = [];
  const owners: { from: number; to: number; where: string }[] = [];
  objects.forEach((object, i) => {
    const module = modelModule(object.apiVersion, object.kind);
    const text = JSON.stringify(object, null, 1).split('\n');
    const from = lines.length;
    lines.push(`import type { I${object.kind} as T${i} } from ${JSON.stringify(module)};`);
    lines.push(`export const o${i}: T${i} = ${text[0]}`, ...text.slice(1), ';');
    owners.push({ from, to: lines.length, where: `${object.kind}/${object.metadata?.name}` });
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (name, version, onError) =>
    path.resolve(name) === file ? ts.createSourceFile(name, source, version) : getSourceFile.call(host, name, version, onError);
  const fileExists = host.fileExists;
  host.fileExists = (name) => path.resolve(name) === file || fileExists.call(host, name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const owner = owners.find((o) => line >= o.from && line < o.to);
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    return `${owner?.where ?? path.basename(d.file?.fileName ?? '?')}: ${text}${owner ? ` (near: ${lines[line].trim()})` : ''}`;
  });
}

describe('schema packages', () => {
  it('are the pinned versions this suite names (Kubernetes 1.33.0, KEDA 2.10.1, the Compose Specification)', () => {
    const dev = JSON.parse(read(path.join(ROOT, 'package.json'))).devDependencies;
    expect(dev['kubernetes-models']).toBe('4.5.1');
    expect(pkgVersion('kubernetes-models')).toBe('4.5.1');
    expect(dev['@kubernetes-models/keda']).toBe('0.4.2');
    expect(pkgVersion('@kubernetes-models/keda')).toBe('0.4.2');
    expect(JSON.parse(read(require.resolve('@kubernetes-models/keda/package.json')))['crd-generate'].input[0]).toContain('keda-2.10.1.yaml');
    expect(dev.dclint).toBe('3.1.0');
    expect(JSON.parse(read(COMPOSE_SCHEMA_FILE)).title).toBe('Compose Specification');
  });

  it('catch what they should: a bad type, a missing required field, an unknown field, a bad compose key', () => {
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'c', ports: [{ containerPort: 'eighty' }] }] } } } };
    expect(schemaProblems(deployment).join()).toMatch(/containerPort must be integer/);
    expect(schemaProblems({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'x' }, spec: { triggers: [] } }).join()).toMatch(/scaleTargetRef/);
    expect(schemaProblems({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'x' } }).join()).toMatch(/no schema/);
    const typo = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { selectr: { a: 'b' } } };
    expect(schemaProblems(typo)).toEqual([]);
    const nested = { ...deployment, spec: { selector: {}, template: { spec: { containers: [{ name: 'c', imagePullPolicyy: 'Always' }] } } } };
    const keda = { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'x' }, spec: { scaleTargetRef: { name: 'w' }, triggers: [{ type: 'redis', metadata: { listLength: 5 } }] } };
    const strict = strictFieldProblems([typo, nested, keda]);
    expect(strict.join('\n')).toMatch(/Service\/x: .*selectr/);
    expect(strict.join('\n')).toMatch(/Deployment\/x: .*imagePullPolicyy/);
    expect(strict.join('\n')).toMatch(/ScaledObject\/x: .*number.*string/); // KEDA trigger metadata values are strings
    expect(composeValidator()({ services: { a: { image: 'x', restart_policy: 'always' } } })).toBe(false);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// docker compose

/** Compose's interpolation: $$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err}. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, esc, name, op, arg, bare) => {
    if (esc === '$') return '$';
    const key = name ?? bare;
    const current = vars[key];
    const unset = current === undefined || (op?.startsWith(':') && current === '');
    if (!op) {
      if (current === undefined) throw new Error(`${whole}: no sample value for ${key}`);
      return current;
    }
    if (op.endsWith('-')) return unset ? arg : current;
    if (unset) throw new Error(`${whole}: required variable ${key} (${arg})`);
    return current;
  });
}

/** Interpolates every string of a parsed compose file, as compose does before validating it. */
function interpolateAll(value: Json, vars: Record<string, string>): Json {
  if (typeof value === 'string') return interpolate(value, vars);
  if (Array.isArray(value)) return value.map((v) => interpolateAll(v, vars));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, vars)]));
  return value;
}

function composeEnv(service: Json): Record<string, string> {
  const raw = service.environment ?? {};
  const pairs: [string, unknown][] = Array.isArray(raw)
    ? raw.map((item: string) => {
        const at = item.indexOf('=');
        return at < 0 ? [item, undefined] : [item.slice(0, at), item.slice(at + 1)];
      })
    : Object.entries(raw);
  const env: Record<string, string> = {};
  for (const [key, value] of pairs) {
    if (value === undefined || value === null) throw new Error(`${key} is passed through from the host: give it a value`);
    env[key] = interpolate(String(value), SAMPLE_VARS);
  }
  return env;
}

/** The short ("127.0.0.1:8080:8080") and long ({ host_ip, published, target }) port syntaxes. */
function composePorts(service: Json): { hostIp?: string; published?: string; target: number }[] {
  return (service.ports ?? []).map((port: Json) => {
    if (typeof port === 'object') return { hostIp: port.host_ip, published: port.published?.toString(), target: Number(port.target) };
    const parts = String(port).replace(/\/(tcp|udp)$/, '').split(':');
    const target = Number(parts.pop());
    const published = parts.pop();
    return { hostIp: parts.length ? parts.join(':') : undefined, published, target };
  });
}

const namedVolume = (mount: string) => String(mount).split(':')[0];

describe('docker-compose.yml', () => {
  const file = path.join(ROOT, 'docker-compose.yml');
  const [compose] = yamlDocs(file);
  const services = compose.services as Record<string, Json>;
  const APP: Record<string, Service> = { gateway: 'gateway', worker: 'worker', 'worker-gpu': 'worker', 'webhook-dispatcher': 'dispatcher', postprocess: 'postprocess' };
  const STORAGE_USERS = ['gateway', 'worker', 'worker-gpu'];

  it('parses as one document and validates against the Compose Specification schema (after interpolation)', () => {
    expect(yamlDocs(file)).toHaveLength(1);
    const validate = composeValidator();
    const valid = validate(interpolateAll(compose, SAMPLE_VARS));
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('has the services, with the GPU worker alone behind the profile gpu', () => {
    expect(Object.keys(services).sort()).toEqual(['gateway', 'minio', 'minio-init', 'postprocess', 'prometheus', 'redis', 'webhook-dispatcher', 'worker', 'worker-gpu']);
    expect(services['worker-gpu'].profiles).toEqual(['gpu']);
    for (const name of Object.keys(services)) if (name !== 'worker-gpu') expect([name, services[name].profiles]).toEqual([name, undefined]);
  });

  it('runs Redis with AOF and noeviction, health-checked, on a named volume', () => {
    const redis = services.redis;
    expect(redis.image).toBe('redis:7.4-alpine');
    const command: string[] = Array.isArray(redis.command) ? redis.command.map(String) : String(redis.command).split(/\s+/);
    expect(command.join(' ')).toContain('--appendonly yes');
    expect(command.join(' ')).toContain('--maxmemory-policy noeviction');
    expect(redis.healthcheck.test.join(' ')).toContain('redis-cli ping');
    expect(Object.keys(compose.volumes)).toContain(namedVolume(redis.volumes[0]));
  });

  it.each(Object.entries(APP))('%s sets only env names its config schema reads, with valid values', (name, service) => {
    const env = composeEnv(services[name]);
    expect(unknownEnvNames(service, Object.keys(env))).toEqual([]);
    expect(() => loadConfig(service, env)).not.toThrow();
  });

  it.each(Object.entries(APP))('%s lists every env name its service reads (tunable from .env)', (name, service) => {
    expect(missingEnvNames(service, Object.keys(composeEnv(services[name])), NOT_SET_IN_COMPOSE[service])).toEqual([]);
  });

  it('gives the services the same values for the names they share', () => {
    const envs = Object.keys(APP).map((name) => [name, composeEnv(services[name])] as const);
    for (const key of ['REDIS_URL', 'RESULT_TTL_S', 'LOG_LEVEL', 'WEBHOOK_RETRY_SCHEDULE_MS']) {
      expect([key, new Set(envs.map(([, env]) => env[key])).size]).toEqual([key, 1]);
    }
    expect(composeEnv(services.gateway).WEBHOOK_ALLOW_PRIVATE).toBe(composeEnv(services['webhook-dispatcher']).WEBHOOK_ALLOW_PRIVATE);
    expect(loadDispatcherConfig(composeEnv(services['webhook-dispatcher'])).WEBHOOK_ALLOW_PRIVATE).toBe(false);
    expect(new URL(composeEnv(services.gateway).REDIS_URL).hostname).toBe('redis');
  });

  it('takes every secret from the host, required, never a default baked into the file', () => {
    expect(services.gateway.environment.JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?[^}]+\}$/);
    expect(() => interpolate(services.gateway.environment.JWT_SECRET, {})).toThrow(/required/);
    for (const [name, key] of [['minio', 'MINIO_ROOT_USER'], ['minio', 'MINIO_ROOT_PASSWORD'], ['gateway', 'AWS_ACCESS_KEY_ID'], ['gateway', 'AWS_SECRET_ACCESS_KEY'], ['worker', 'AWS_SECRET_ACCESS_KEY']]) {
      expect([name, key, services[name].environment[key]]).toEqual([name, key, expect.stringMatching(/^\$\{[A-Z0-9_]+:\?[^}]+\}$/)]);
    }
  });

  it("publishes the gateway's PORT and Prometheus on the host's loopback only, nothing else", () => {
    const config = loadGatewayConfig(composeEnv(services.gateway));
    expect(composePorts(services.gateway)).toEqual([{ hostIp: '127.0.0.1', published: '8080', target: config.PORT }]);
    expect(composePorts(services.prometheus)).toEqual([{ hostIp: '127.0.0.1', published: '9090', target: 9090 }]);
    // inside the container it must listen beyond its own loopback for the published port to reach it
    expect(config.HOST).toBe('0.0.0.0');
    for (const name of Object.keys(services)) if (!['gateway', 'prometheus'].includes(name)) expect([name, services[name].ports]).toEqual([name, undefined]);
  });

  it('serves each ops port beyond the container loopback, where Prometheus scrapes it', () => {
    const gateway = loadGatewayConfig(composeEnv(services.gateway));
    expect([gateway.METRICS_HOST, gateway.METRICS_PORT]).toEqual(['0.0.0.0', 9464]);
    for (const name of ['worker', 'worker-gpu']) {
      const worker = loadWorkerConfig(composeEnv(services[name]));
      expect([name, worker.HEALTH_HOST, worker.HEALTH_PORT]).toEqual([name, '0.0.0.0', 9465]);
    }
    const dispatcher = loadDispatcherConfig(composeEnv(services['webhook-dispatcher']));
    expect([dispatcher.HEALTH_HOST, dispatcher.HEALTH_PORT]).toEqual(['0.0.0.0', 9466]);
    const postprocess = loadPostprocessConfig(composeEnv(services.postprocess));
    expect([postprocess.HEALTH_HOST, postprocess.HEALTH_PORT]).toEqual(['0.0.0.0', 9467]);
    expect(services.worker.deploy.replicas).toBe(1);
  });

  it('stores uploads in MinIO through STORAGE_URL=s3://talkie, created by a one-shot minio/mc', () => {
    expect(services.minio.image).toMatch(/^minio\/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/);
    expect(services['minio-init'].image).toMatch(/^minio\/mc:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/);
    expect(services['minio-init'].restart).toBe('no');
    const script = services['minio-init'].command.join('\n');
    const envs = STORAGE_USERS.map((name) => composeEnv(services[name]));
    for (const key of ['STORAGE_URL', 'S3_ENDPOINT', 'S3_REGION', 'S3_FORCE_PATH_STYLE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      expect([key, new Set(envs.map((env) => env[key])).size]).toEqual([key, 1]);
    }
    const options = checkStorageEnv(envs[0])!;
    expect(options.bucket).toBe('talkie');
    expect(options.endpoint).toBe('http://minio:9000');
    expect(options.forcePathStyle).toBe(true);
    expect(script).toContain(`mc mb --ignore-existing talkie/${options.bucket}`);
    // the apps use the bucket-scoped user minio-init creates, not MinIO's root
    expect(services.gateway.environment.AWS_ACCESS_KEY_ID).toContain('TALKIE_S3_ACCESS_KEY');
    expect(script).toMatch(/mc admin user add talkie "\$\$TALKIE_S3_ACCESS_KEY"/);
    const policyMount = services['minio-init'].volumes[0].split(':');
    const policy = JSON.parse(read(path.join(ROOT, policyMount[0])));
    expect(script).toContain(policyMount[1]);
    expect(JSON.stringify(policy.Statement.map((s: Json) => s.Resource))).toBe(JSON.stringify([[`arn:aws:s3:::${options.bucket}`], [`arn:aws:s3:::${options.bucket}/*`]]));
    for (const action of ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:ListBucket', 's3:ListBucketMultipartUploads', 's3:AbortMultipartUpload']) {
      expect(policy.Statement.flatMap((s: Json) => s.Action)).toContain(action);
    }
    for (const name of STORAGE_USERS) {
      expect(services[name].depends_on['minio-init'].condition).toBe('service_completed_successfully');
      expect(services[name].depends_on.redis.condition).toBe('service_healthy');
    }
    expect(services['minio-init'].depends_on.minio.condition).toBe('service_healthy');
    expect(services.minio.healthcheck).toBeDefined();
  });

  it('keeps Redis, MinIO and the workers on the internal network; the gateway, dispatcher, postprocess and Prometheus also on edge', () => {
    expect(compose.networks.backend.internal).toBe(true);
    expect(compose.networks.edge?.internal).toBeUndefined();
    for (const name of ['redis', 'minio', 'minio-init', 'worker', 'worker-gpu']) expect([name, services[name].networks]).toEqual([name, ['backend']]);
    for (const name of ['gateway', 'webhook-dispatcher', 'postprocess', 'prometheus']) expect([name, [...services[name].networks].sort()]).toEqual([name, ['backend', 'edge']]);
  });

  it('hardens every container: read-only root with a /tmp tmpfs, no new privileges, no capabilities', () => {
    for (const [name, service] of Object.entries(services)) {
      expect([name, service.read_only]).toEqual([name, true]);
      expect([name, service.tmpfs]).toEqual([name, expect.arrayContaining(['/tmp'])]);
      expect([name, service.security_opt]).toEqual([name, expect.arrayContaining(['no-new-privileges:true'])]);
      expect([name, service.cap_drop]).toEqual([name, ['ALL']]);
    }
  });

  it('pins every third-party image by tag (no latest, no invented digest)', () => {
    for (const [name, service] of Object.entries(services)) {
      expect([name, service.image]).toEqual([name, expect.stringMatching(/^[\w./-]+:[\w.-]+$/)]);
      expect([name, service.image]).not.toEqual([name, expect.stringMatching(/:latest$/)]);
    }
    expect(services.prometheus.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
  });

  it('builds each app image from the repository root with its own Dockerfile', () => {
    for (const [name, service] of Object.entries(APP)) {
      const dir = service === 'dispatcher' ? 'webhook-dispatcher' : service;
      expect(services[name].image.replace(/-gpu:/, ':')).toBe(`talkie/${dir}:0.1.0`);
      expect(services[name].build.context).toBe('.');
      expect(services[name].build.dockerfile).toBe(`services/${dir}/Dockerfile`);
      expect(existsSync(path.join(ROOT, services[name].build.dockerfile))).toBe(true);
    }
  });

  it('reserves one NVIDIA GPU for worker-gpu, on the CUDA image variant, and prefers CUDA there', () => {
    const gpu = services['worker-gpu'];
    expect(gpu.deploy.resources.reservations.devices).toEqual([{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    expect(loadWorkerConfig(composeEnv(gpu)).EXECUTION_PROVIDERS.split(',')).toEqual(['cuda', 'cpu']);
    expect(loadWorkerConfig(composeEnv(services.worker)).EXECUTION_PROVIDERS).toBe('cpu');
    expect(gpu.build.args).toEqual({ VARIANT: 'gpu', ONNXRUNTIME_NODE_INSTALL: 'cuda12' });
    expect(services.worker.build.args).toBeUndefined();
  });

  it('gives the workers less CPU weight than the gateway, and a cap their ONNX threads follow', () => {
    for (const name of ['worker', 'worker-gpu']) {
      expect(services[name].cpu_shares).toBeLessThan(services.gateway.cpu_shares);
      const cpus = interpolate(String(services[name].cpus), SAMPLE_VARS);
      expect(Number(cpus)).toBeGreaterThan(0);
      const config = loadWorkerConfig(composeEnv(services[name]));
      expect(config.INTRA_OP_THREADS).toBe(Number(cpus));
      expect(config.DECODE_THREADS).toBe(Number(cpus));
    }
    // the explanation is in the file, where the next person looks
    expect(read(file)).toMatch(/WORKER_NICE[^\n]*\n?[^\n]*cgroup/);
  });

  it('mounts files that exist, and only named volumes that are declared', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const mount of service.volumes ?? []) {
        const source = namedVolume(mount);
        if (source.startsWith('.')) expect([name, source, existsSync(path.join(ROOT, source))]).toEqual([name, source, true]);
        else expect([name, Object.keys(compose.volumes)]).toEqual([name, expect.arrayContaining([source])]);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Kubernetes (kustomize)

interface Kustomization {
  file: string;
  dir: string;
  body: Json;
}

function kustomizations(): Kustomization[] {
  return yamlFilesUnder(K8S)
    .filter((file) => path.basename(file) === 'kustomization.yaml')
    .map((file) => ({ file, dir: path.dirname(file), body: yamlDocs(file)[0] }));
}

/** The objects of a kustomization's plain-file resources (no transformers applied). */
function resourcesOf(dir: string): Json[] {
  const body = yamlDocs(path.join(dir, 'kustomization.yaml'))[0];
  return ((body.resources ?? []) as string[]).flatMap((entry) => {
    const full = path.resolve(dir, entry);
    if (!existsSync(full)) return []; // reported by the kustomization test, not as a crash here
    return statSync(full).isDirectory() ? resourcesOf(full) : yamlDocs(full);
  });
}

const findByKind = (objects: Json[], kind: string, name: string): Json | undefined => objects.find((o) => o.kind === kind && o.metadata?.name === name);
const byKind = (objects: Json[], kind: string, name: string): Json => {
  const found = findByKind(objects, kind, name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
};

interface SecretRef {
  name: string;
  secret: string;
  key: string;
  optional?: boolean;
}

/** The env a container gets: its ConfigMaps (envFrom), then its own env entries (which win). */
function containerEnv(objects: Json[], container: Json): { env: Record<string, string>; secrets: SecretRef[] } {
  const env: Record<string, string> = {};
  const secrets: SecretRef[] = [];
  for (const from of container.envFrom ?? []) {
    if (!from.configMapRef) throw new Error(`${container.name}: envFrom other than a ConfigMap hides which names it sets`);
    Object.assign(env, byKind(objects, 'ConfigMap', from.configMapRef.name).data);
  }
  for (const entry of container.env ?? []) {
    if (entry.valueFrom?.secretKeyRef) {
      const ref = entry.valueFrom.secretKeyRef;
      secrets.push({ name: entry.name, secret: ref.name, key: ref.key, ...(ref.optional ? { optional: true } : {}) });
    } else {
      env[entry.name] = String(entry.value);
    }
  }
  return { env, secrets };
}

/** A probe's or a Service's port: a number, or the name of one of the container's ports. */
function resolvePort(container: Json, port: number | string): number {
  if (typeof port === 'number') return port;
  const named = (container.ports ?? []).find((p: Json) => p.name === port);
  if (!named) throw new Error(`${container.name}: no port named ${port}`);
  return named.containerPort;
}

const DEPLOYMENT_OF: Record<Service, string> = { gateway: 'talkie-gateway', worker: 'talkie-worker', dispatcher: 'talkie-webhook-dispatcher', postprocess: 'talkie-postprocess' };
const IMAGE_OF: Record<Service, string> = { gateway: 'talkie/gateway:0.1.0', worker: 'talkie/worker:0.1.0', dispatcher: 'talkie/webhook-dispatcher:0.1.0', postprocess: 'talkie/postprocess:0.1.0' };
const SERVICES: Service[] = ['gateway', 'worker', 'dispatcher', 'postprocess'];
/** the apps that read and write uploads (the others never touch storage) */
const STORAGE_SERVICES: ReadonlySet<Service> = new Set(['gateway', 'worker']);

/** The service's config as a deployment gives it (secrets replaced by sample values). */
function deployedConfig(objects: Json[], service: Service) {
  const container = byKind(objects, 'Deployment', DEPLOYMENT_OF[service]).spec.template.spec.containers[0];
  const { env, secrets } = containerEnv(objects, container);
  const withSecrets = { ...env, ...Object.fromEntries(secrets.filter((s) => !s.optional).map((s) => [s.name, SAMPLE_VARS[s.name] ?? 'x'.repeat(40)])) };
  return { container, env: withSecrets, secrets, config: loadConfig(service, withSecrets) as Json };
}

/** Does a label selector (matchLabels / matchExpressions In) select these labels? */
function selects(selector: Json, labels: Record<string, string>): boolean {
  const matchLabels: Record<string, string> = selector?.matchLabels ?? {};
  if (!Object.entries(matchLabels).every(([k, v]) => labels[k] === v)) return false;
  return (selector?.matchExpressions ?? []).every((e: Json) => e.operator === 'In' && e.values.includes(labels[e.key]));
}

const podLabels = (objects: Json[], service: Service) => byKind(objects, 'Deployment', DEPLOYMENT_OF[service]).spec.template.metadata.labels;

/** Renders a kustomization with kubectl (which embeds kustomize). */
function kustomize(dir: string): Json[] {
  const out = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  if (out.status !== 0 || out.stderr) throw new Error(`kubectl kustomize ${dir}: ${out.stderr}`);
  return parseAllDocuments(out.stdout).map((d) => d.toJS());
}

/** An overlay plus the s3 component, as an operator would write it (in a temporary folder). */
function kustomizeWithS3(overlay: string): Json[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'talkie-kustomize-'));
  try {
    const up = path.relative(dir, K8S);
    writeFileSync(
      path.join(dir, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [${up}/overlays/${overlay}]\ncomponents: [${up}/components/s3]\n`,
    );
    return kustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Checks that hold for the base and for every rendering of it. */
function checkAppEnv(objects: Json[]) {
  for (const service of SERVICES) {
    const { container, env, secrets } = deployedConfig(objects, service);
    const names = [...Object.keys(env), ...secrets.map((s) => s.name)];
    expect([service, unknownEnvNames(service, names)]).toEqual([service, []]);
    expect([service, missingEnvNames(service, names, notSetInK8s(service, env.STORAGE_URL))]).toEqual([service, []]);
    if (STORAGE_SERVICES.has(service)) checkStorageEnv({ ...env, ...Object.fromEntries(secrets.map((s) => [s.name, 'x'.repeat(20)])) });
    expect(container.image).toBeDefined();
  }
}

describe('k8s/', () => {
  const files = yamlFilesUnder(K8S);
  const base = resourcesOf(BASE);
  const workloads = base.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  const appContainer = (name: string) => byKind(base, 'Deployment', name).spec.template.spec.containers[0];
  const isKustomize = (doc: Json) => /^kustomize\.config\.k8s\.io\//.test(doc.apiVersion);
  /** Whole objects in plain files (not kustomizations, not patches). */
  const PATCH_FILES = new Set(['storage-configmap.yaml', 'deployments-s3.yaml', 'delete-storage-pvc.yaml'].map((f) => path.join(K8S, 'components', 's3', f)));
  const plainObjects = files.filter((f) => !PATCH_FILES.has(f)).flatMap((f) => yamlDocs(f).filter((d) => !isKustomize(d)).map((d) => ({ file: f, doc: d })));

  it('parses: every YAML document under k8s/, each a Kubernetes or kustomize object', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
    for (const file of files) {
      const docs = yamlDocs(file);
      expect([rel(file), docs.length > 0]).toEqual([rel(file), true]);
      for (const doc of docs) expect([rel(file), typeof doc.apiVersion, typeof doc.kind]).toEqual([rel(file), 'string', 'string']);
    }
  });

  it('validates every object of every manifest against the Kubernetes 1.33 / KEDA 2.10 schemas', () => {
    const problems = plainObjects.flatMap(({ file, doc }) => schemaProblems(doc).map((p) => `${rel(file)}: ${p}`));
    expect(problems).toEqual([]);
    expect(plainObjects.length).toBeGreaterThanOrEqual(25);
  });

  it('uses no field the schemas do not define (type-checked against the same packages)', () => {
    expect(strictFieldProblems(plainObjects.map(({ doc }) => doc))).toEqual([]);
  }, 60_000);

  it('lists only files that exist in every kustomization, and leaves no manifest of the base out', () => {
    const all = kustomizations();
    expect(all.map((k) => path.relative(K8S, k.dir)).sort()).toEqual(['base', 'components/s3', 'overlays/cpu', 'overlays/gpu']);
    for (const { dir, body, file } of all) {
      expect([rel(file), body.kind]).toEqual([rel(file), dir.includes('components') ? 'Component' : 'Kustomization']);
      for (const entry of [...(body.resources ?? []), ...(body.components ?? [])]) {
        const full = path.resolve(dir, entry);
        const ok = existsSync(full) && (statSync(full).isFile() || existsSync(path.join(full, 'kustomization.yaml')));
        expect([rel(file), entry, ok]).toEqual([rel(file), entry, true]);
      }
      for (const patch of body.patches ?? []) {
        if (patch.path) expect([rel(file), patch.path, existsSync(path.resolve(dir, patch.path))]).toEqual([rel(file), patch.path, true]);
      }
    }
    const listed: string[] = yamlDocs(path.join(BASE, 'kustomization.yaml'))[0].resources;
    const manifests = readdirSync(BASE).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    expect(manifests.filter((f) => !listed.includes(f))).toEqual(['secret.example.yaml']);
    for (const overlay of ['cpu', 'gpu']) {
      expect(yamlDocs(path.join(K8S, 'overlays', overlay, 'kustomization.yaml'))[0].resources).toContain('../../base');
    }
  });

  it('keeps the example secrets out of every kustomization, with placeholders the services refuse', () => {
    expect(base.filter((o) => o.kind === 'Secret')).toEqual([]);
    for (const { body } of kustomizations()) expect(JSON.stringify(body.resources ?? [])).not.toContain('secret.example');
    const [example] = yamlDocs(path.join(BASE, 'secret.example.yaml'));
    expect(example.kind).toBe('Secret');
    expect(example.metadata.name).toBe('talkie-secrets');
    expect(Object.keys(example.stringData)).toEqual(['JWT_SECRET']);
    expect(GatewayEnv.shape.JWT_SECRET.safeParse(example.stringData.JWT_SECRET).success).toBe(false);
    const [s3] = yamlDocs(path.join(K8S, 'components', 's3', 'secret.example.yaml'));
    expect(Object.keys(s3.stringData).sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
  });

  it('puts everything in the talkie namespace, under the restricted Pod Security profile', () => {
    const namespace = byKind(base, 'Namespace', 'talkie');
    expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(yamlDocs(path.join(BASE, 'kustomization.yaml'))[0].namespace).toBe('talkie');
  });

  it('has ConfigMaps whose every key is read by every service that loads them', () => {
    const maps = base.filter((o) => o.kind === 'ConfigMap');
    expect(maps.map((m) => m.metadata.name).sort()).toEqual(['talkie-common', 'talkie-dispatcher', 'talkie-gateway', 'talkie-postprocess', 'talkie-storage', 'talkie-worker']);
    for (const map of maps) {
      const users = SERVICES.filter((service) =>
        byKind(base, 'Deployment', DEPLOYMENT_OF[service]).spec.template.spec.containers[0].envFrom.some((f: Json) => f.configMapRef.name === map.metadata.name),
      );
      expect([map.metadata.name, users.length > 0]).toEqual([map.metadata.name, true]);
      for (const service of users) expect([map.metadata.name, service, unknownEnvNames(service, Object.keys(map.data))]).toEqual([map.metadata.name, service, []]);
      expect(Object.keys(map.data)).not.toContain('JWT_SECRET');
    }
  });

  it('sets every env name each service reads, each valid for its schema (and storage)', () => {
    checkAppEnv(base);
    // one value for the names the services share
    const configs = SERVICES.map((service) => deployedConfig(base, service).env);
    for (const key of ['REDIS_URL', 'RESULT_TTL_S', 'LOG_LEVEL', 'WEBHOOK_RETRY_SCHEDULE_MS']) expect([key, new Set(configs.map((c) => c[key])).size]).toEqual([key, 1]);
    expect(configs[0].WEBHOOK_ALLOW_PRIVATE).toBe(configs[2].WEBHOOK_ALLOW_PRIVATE);
    expect(deployedConfig(base, 'dispatcher').config.WEBHOOK_ALLOW_PRIVATE).toBe(false);
  });

  it.each(SERVICES)('%s: image, and a pod template its selector matches', (service) => {
    const deployment = byKind(base, 'Deployment', DEPLOYMENT_OF[service]);
    expect(deployment.apiVersion).toBe('apps/v1');
    const containers = deployment.spec.template.spec.containers;
    expect(containers).toHaveLength(1);
    expect(containers[0].image).toBe(IMAGE_OF[service]);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
  });

  it('leaves replica counts to the autoscalers: an HPA for the gateway (2 or more), KEDA for the worker', () => {
    expect(byKind(base, 'Deployment', 'talkie-gateway').spec.replicas).toBeUndefined();
    expect(byKind(base, 'Deployment', 'talkie-worker').spec.replicas).toBeUndefined();
    expect(byKind(base, 'Deployment', 'talkie-webhook-dispatcher').spec.replicas).toBeGreaterThanOrEqual(2);
    const hpa = byKind(base, 'HorizontalPodAutoscaler', 'talkie-gateway');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'talkie-gateway' });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    expect(hpa.spec.metrics).toContainEqual({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: expect.any(Number) } } });
    // utilization is relative to the request: there must be one
    expect(appContainer('talkie-gateway').resources.requests.cpu).toBeDefined();
    expect(base.filter((o) => o.kind === 'HorizontalPodAutoscaler')).toHaveLength(1); // KEDA makes the worker's
  });

  it('gives the gateway JWT_SECRET from the Secret talkie-secrets only', () => {
    const { env, secrets } = containerEnv(base, appContainer('talkie-gateway'));
    expect(env.JWT_SECRET).toBeUndefined();
    expect(secrets).toEqual([{ name: 'JWT_SECRET', secret: 'talkie-secrets', key: 'JWT_SECRET' }]);
    expect(containerEnv(base, appContainer('talkie-worker')).secrets).toEqual([]);
    expect(containerEnv(base, appContainer('talkie-webhook-dispatcher')).secrets).toEqual([]);
    // the LLM's key, optional (local LLMs need none), from its own Secret
    expect(containerEnv(base, appContainer('talkie-postprocess')).secrets).toEqual([{ name: 'LLM_API_KEY', secret: 'talkie-llm', key: 'LLM_API_KEY', optional: true }]);
  });

  it("probes the gateway on its ops port (named metrics), and routes the Service to PORT", () => {
    const { container, config } = deployedConfig(base, 'gateway');
    expect([config.HOST, config.METRICS_HOST]).toEqual(['0.0.0.0', '0.0.0.0']);
    expect(resolvePort(container, 'metrics')).toBe(config.METRICS_PORT);
    expect(resolvePort(container, 'http')).toBe(config.PORT);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    const service = byKind(base, 'Service', 'talkie-gateway');
    expect(service.spec.ports).toHaveLength(1); // never the ops port
    expect(resolvePort(container, service.spec.ports[0].targetPort)).toBe(config.PORT);
    expect(selects({ matchLabels: service.spec.selector }, podLabels(base, 'gateway'))).toBe(true);
    const annotations = byKind(base, 'Deployment', 'talkie-gateway').spec.template.metadata.annotations;
    expect(Number(annotations['prometheus.io/port'])).toBe(config.METRICS_PORT);
  });

  it.each([
    ['worker', 9465],
    ['dispatcher', 9466],
    ['postprocess', 9467],
  ] as const)("probes the %s on HEALTH_PORT's value, served beyond the pod's loopback", (service, port) => {
    const { container, config } = deployedConfig(base, service);
    expect(config.HEALTH_PORT).toBe(port);
    // the kubelet probes the pod IP: a loopback health server would fail every probe
    expect(['0.0.0.0', '::']).toContain(config.HEALTH_HOST);
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(resolvePort(container, container.readinessProbe.httpGet.port)).toBe(config.HEALTH_PORT);
    expect(resolvePort(container, container.livenessProbe.httpGet.port)).toBe(config.HEALTH_PORT);
    expect(container.ports.map((p: Json) => p.containerPort)).toEqual([config.HEALTH_PORT]);
    const annotations = byKind(base, 'Deployment', DEPLOYMENT_OF[service]).spec.template.metadata.annotations;
    expect(Number(annotations['prometheus.io/port'])).toBe(config.HEALTH_PORT);
  });

  it('hardens every Deployment and StatefulSet container', () => {
    expect(workloads.length).toBe(5);
    for (const workload of workloads) {
      const pod = workload.spec.template.spec;
      expect([workload.metadata.name, pod.automountServiceAccountToken]).toEqual([workload.metadata.name, false]);
      for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
        const sc = container.securityContext ?? {};
        const where = `${workload.metadata.name}/${container.name}`;
        expect([where, sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot]).toEqual([where, true]);
        expect([where, sc.readOnlyRootFilesystem]).toEqual([where, true]);
        expect([where, sc.allowPrivilegeEscalation]).toEqual([where, false]);
        expect([where, sc.capabilities?.drop]).toEqual([where, ['ALL']]);
        expect([where, container.resources?.limits?.memory]).toEqual([where, expect.any(String)]);
        expect([where, container.resources?.requests?.cpu]).toEqual([where, expect.anything()]);
      }
      // the images' non-root user; numeric so the kubelet can verify runAsNonRoot
      if (workload.kind === 'Deployment') expect(pod.securityContext.runAsUser).toBe(10001);
    }
  });

  it('sizes ONNX Runtime and ffmpeg threads to the worker pod CPU limit', () => {
    const { container, config } = deployedConfig(base, 'worker');
    expect(config.INTRA_OP_THREADS).toBe(Number(container.resources.limits.cpu));
    expect(config.DECODE_THREADS).toBe(Number(container.resources.limits.cpu));
  });

  it('mounts the ReadWriteMany upload PVC at the STORAGE_URL path, and /tmp as an emptyDir', () => {
    const pvc = byKind(base, 'PersistentVolumeClaim', 'talkie-storage');
    expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']);
    for (const service of ['gateway', 'worker'] as const) {
      const pod = byKind(base, 'Deployment', DEPLOYMENT_OF[service]).spec.template.spec;
      const { container, env } = deployedConfig(base, service);
      const mountAt = (mountPath: string) => {
        const mount = container.volumeMounts.find((m: Json) => m.mountPath === mountPath);
        return mount && pod.volumes.find((v: Json) => v.name === mount.name);
      };
      expect(mountAt(new URL(env.STORAGE_URL).pathname)?.persistentVolumeClaim?.claimName).toBe('talkie-storage');
      expect(mountAt('/tmp')?.emptyDir).toBeDefined();
      expect(pod.securityContext.fsGroup).toBe(10001);
    }
    const dispatcher = byKind(base, 'Deployment', 'talkie-webhook-dispatcher').spec.template.spec;
    expect(dispatcher.volumes.map((v: Json) => Object.keys(v).filter((k) => k !== 'name'))).toEqual([['emptyDir']]);
  });

  it('runs Redis as a StatefulSet with AOF, noeviction and its own volume, behind REDIS_URL', () => {
    const redis = byKind(base, 'StatefulSet', 'redis');
    const args: string[] = redis.spec.template.spec.containers[0].args.map(String);
    expect(args.join(' ')).toContain('--appendonly yes');
    expect(args.join(' ')).toContain('--maxmemory-policy noeviction');
    const claim = redis.spec.volumeClaimTemplates[0];
    expect(redis.spec.template.spec.containers[0].volumeMounts).toContainEqual({ name: claim.metadata.name, mountPath: '/data' });
    const url = new URL(byKind(base, 'ConfigMap', 'talkie-common').data.REDIS_URL);
    const service = byKind(base, 'Service', url.hostname);
    expect(redis.spec.serviceName).toBe(service.metadata.name);
    expect(service.spec.ports.map((p: Json) => p.port)).toContain(Number(url.port));
    expect(redis.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    // the managed-Redis advice sits beside it
    const text = read(path.join(BASE, 'redis-statefulset.yaml'));
    for (const word of ['noeviction', 'AOF', 'cluster mode', '{talkie}']) expect(text).toContain(word);
  });

  it('exposes the gateway through a TLS Ingress that streams uploads and answers (ingress-nginx)', () => {
    const ingress = byKind(base, 'Ingress', 'talkie-gateway');
    const { config } = deployedConfig(base, 'gateway');
    expect(ingress.spec.ingressClassName).toBe('nginx');
    expect(ingress.spec.tls[0].secretName).toBeDefined();
    expect(ingress.spec.tls[0].hosts).toEqual(ingress.spec.rules.map((r: Json) => r.host));
    const a = ingress.metadata.annotations;
    expect(a['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
    expect(a['nginx.ingress.kubernetes.io/proxy-request-buffering']).toBe('off');
    expect(a['nginx.ingress.kubernetes.io/ssl-redirect']).toBe('true');
    const size = /^(\d+)m$/.exec(a['nginx.ingress.kubernetes.io/proxy-body-size'])!;
    expect(Number(size[1]) * 1024 * 1024).toBeGreaterThan(config.MAX_UPLOAD_BYTES);
    expect(Number(a['nginx.ingress.kubernetes.io/proxy-read-timeout']) * 1000).toBeGreaterThanOrEqual(config.REQUEST_TIMEOUT_MS);
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    const service = byKind(base, 'Service', backend.name);
    expect(service.spec.ports.map((p: Json) => p.name)).toContain(backend.port.name);
    expect(config.TRUST_PROXY).toBe(1);
  });

  it('gives every app a PodDisruptionBudget selecting its pods', () => {
    const pdbs = base.filter((o) => o.kind === 'PodDisruptionBudget');
    for (const service of SERVICES) {
      const matching = pdbs.filter((p) => selects(p.spec.selector, podLabels(base, service)));
      expect([service, matching.length]).toEqual([service, 1]);
    }
    // the worker may run 0 replicas: a minAvailable would block drains for nothing
    const worker = pdbs.find((p) => selects(p.spec.selector, podLabels(base, 'worker')));
    expect(worker.spec.maxUnavailable).toBe(1);
  });

  describe('KEDA ScaledObject', () => {
    const scaled = byKind(base, 'ScaledObject', 'talkie-worker');
    const queue = `${QUEUE_PREFIX}:${QUEUES.transcribe}`;

    it('targets the worker Deployment, from 0 replicas', () => {
      expect(scaled.apiVersion).toBe('keda.sh/v1alpha1');
      const target = scaled.spec.scaleTargetRef;
      expect(byKind(base, target.kind ?? 'Deployment', target.name)).toBe(byKind(base, 'Deployment', 'talkie-worker'));
      expect(scaled.spec.minReplicaCount).toBe(0);
      expect(scaled.spec.maxReplicaCount).toBeGreaterThan(0);
    });

    it("reads BullMQ's wait list from the in-cluster Redis with the redis scaler", () => {
      const redis = scaled.spec.triggers.find((t: Json) => t.type === 'redis');
      expect(redis.metadata.listName).toBe(`${queue}:wait`);
      expect(Number(redis.metadata.listLength)).toBeGreaterThan(0);
      expect(redis.metadata.activationListLength).toBe('0');
      const [host, port] = redis.metadata.address.split(':');
      const url = new URL(byKind(base, 'ConfigMap', 'talkie-common').data.REDIS_URL);
      expect(host).toBe(`${url.hostname}.talkie.svc.cluster.local`);
      expect(port).toBe(url.port);
      expect(Number(redis.metadata.databaseIndex ?? 0)).toBe(Number(url.pathname.slice(1) || 0));
    });

    it('counts the prioritized and delayed jobs too, through the gateway metric in Prometheus', () => {
      const prometheus = scaled.spec.triggers.find((t: Json) => t.type === 'prometheus');
      const query: string = prometheus.metadata.query;
      expect(query).toContain('talkie_queue_jobs');
      // the transcribe queue and the chunk jobs of long videos, which every worker serves
      const queues = /queue=~"([^"]+)"/.exec(query)![1].split('|');
      expect(queues.sort()).toEqual([QUEUES.transcribe, QUEUES.chunks].sort());
      const states = /state=~"([^"]+)"/.exec(query)![1].split('|');
      expect(states).toEqual(expect.arrayContaining(['waiting', 'prioritized', 'delayed']));
      // the gateway serves that gauge, with those states
      const metrics = read(path.join(ROOT, 'services/gateway/src/observability/gateway-metrics.ts'));
      expect(metrics).toContain("name: 'talkie_queue_jobs'");
      for (const state of states) expect(metrics).toContain(`'${state}'`);
      expect(Number(prometheus.metadata.threshold)).toBeGreaterThan(0);
      expect(prometheus.metadata.activationThreshold).toBe('0');
      expect(prometheus.metadata.serverAddress).toMatch(/^http:\/\/[\w.-]+\.monitoring\.svc[\w.]*:9090$/);
      // the choice is explained where it is made
      expect(read(path.join(BASE, 'worker-scaledobject.yaml'))).toMatch(/sorted set/);
    });
  });

  describe('NetworkPolicies', () => {
    const policies = base.filter((o) => o.kind === 'NetworkPolicy');
    const policyFor = (labels: Record<string, string>) => {
      const found = policies.filter((p) => Object.keys(p.spec.podSelector ?? {}).length && selects(p.spec.podSelector, labels));
      expect(found).toHaveLength(1);
      return found[0];
    };
    const nsOf = (peer: Json) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'];
    const ports = (rule: Json) => (rule.ports ?? []).map((p: Json) => `${p.protocol ?? 'TCP'}/${p.port}`);
    const redisPort = Number(new URL(byKind(base, 'ConfigMap', 'talkie-common').data.REDIS_URL).port);
    const redisLabels = byKind(base, 'StatefulSet', 'redis').spec.template.metadata.labels;
    const isDns = (rule: Json) => rule.to.length === 1 && nsOf(rule.to[0]) === 'kube-system' && ports(rule).sort().join() === 'TCP/53,UDP/53';
    const isRedis = (rule: Json) => rule.to.length === 1 && selects(rule.to[0].podSelector, redisLabels) && !nsOf(rule.to[0]) && ports(rule).join() === `TCP/${redisPort}`;

    it('deny everything in the namespace by default', () => {
      const deny = policies.find((p) => Object.keys(p.spec.podSelector).length === 0);
      expect(deny.spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
      expect(deny.spec.ingress).toBeUndefined();
      expect(deny.spec.egress).toBeUndefined();
    });

    it('exist for each app and for Redis, covering both directions', () => {
      for (const labels of [...SERVICES.map((s) => podLabels(base, s)), redisLabels]) {
        expect(policyFor(labels).spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
      }
    });

    it('gateway: in from the ingress controller on PORT and monitoring on METRICS_PORT; out to Redis and DNS', () => {
      const { config } = deployedConfig(base, 'gateway');
      const policy = policyFor(podLabels(base, 'gateway'));
      expect(policy.spec.ingress.map((r: Json) => [r.from.map(nsOf), ports(r)])).toEqual([
        [['ingress-nginx'], [`TCP/${config.PORT}`]],
        [['monitoring'], [`TCP/${config.METRICS_PORT}`]],
      ]);
      expect(policy.spec.egress).toHaveLength(2);
      expect(policy.spec.egress.some(isRedis)).toBe(true);
      expect(policy.spec.egress.some(isDns)).toBe(true);
    });

    /**
     * The policy of a background app (worker, dispatcher, postprocess): in from monitoring on
     * HEALTH_PORT only; out to Redis and DNS, and with `https` also to addresses (ipBlocks) on 443,
     * whose rule it returns.
     */
    function backgroundAppPolicy(service: Service, { https }: { https: boolean }): Json {
      const { config } = deployedConfig(base, service);
      const policy = policyFor(podLabels(base, service));
      expect(policy.spec.ingress.map((r: Json) => [r.from.map(nsOf), ports(r)])).toEqual([[['monitoring'], [`TCP/${config.HEALTH_PORT}`]]]);
      expect(policy.spec.egress).toHaveLength(https ? 3 : 2);
      expect(policy.spec.egress.some(isRedis)).toBe(true);
      expect(policy.spec.egress.some(isDns)).toBe(true);
      if (!https) return undefined;
      const rule = policy.spec.egress.find((r: Json) => r.to.every((p: Json) => p.ipBlock));
      expect(ports(rule)).toEqual(['TCP/443']);
      return rule;
    }

    it('worker: no ingress but monitoring on HEALTH_PORT; out to Redis and DNS only', () => {
      backgroundAppPolicy('worker', { https: false });
    });

    it('dispatcher: out on 443 to the internet except private ranges, plus Redis and DNS', () => {
      const https = backgroundAppPolicy('dispatcher', { https: true });
      const v4 = https.to.find((p: Json) => p.ipBlock.cidr === '0.0.0.0/0').ipBlock.except;
      expect(v4).toEqual(expect.arrayContaining(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '127.0.0.0/8', '100.64.0.0/10']));
      const v6 = https.to.find((p: Json) => p.ipBlock.cidr === '::/0').ipBlock.except;
      expect(v6).toEqual(expect.arrayContaining(['fc00::/7', 'fe80::/10']));
    });

    it('postprocess: out on 443 to the LLM endpoint, plus Redis and DNS; in from monitoring on HEALTH_PORT', () => {
      backgroundAppPolicy('postprocess', { https: true });
    });

    it('Redis: in from the four apps (and the KEDA operator that reads the wait list) only; no egress', () => {
      const policy = policyFor(redisLabels);
      expect(policy.spec.ingress).toHaveLength(1);
      const [rule] = policy.spec.ingress;
      expect(ports(rule)).toEqual([`TCP/${redisPort}`]);
      const local = rule.from.filter((p: Json) => !p.namespaceSelector);
      for (const service of SERVICES) expect([service, local.filter((p: Json) => selects(p.podSelector, podLabels(base, service))).length]).toEqual([service, 1]);
      expect(local).toHaveLength(SERVICES.length);
      expect(rule.from.filter((p: Json) => p.namespaceSelector).map(nsOf)).toEqual(['keda']);
      expect(policy.spec.egress).toEqual([]);
    });
  });

  describe('gpu overlay', () => {
    const overlay = yamlDocs(path.join(K8S, 'overlays', 'gpu', 'kustomization.yaml'))[0];
    const workerPatches = (overlay.patches as Json[]).filter((p) => p.target?.kind === 'Deployment' && p.target?.name === 'talkie-worker');
    const patchDocs: Json[] = workerPatches.flatMap((p) =>
      p.path ? yamlDocs(path.resolve(K8S, 'overlays', 'gpu', p.path)) : [parse(p.patch, { prettyErrors: true })],
    );
    const podPatch = patchDocs[0]?.spec?.template?.spec;

    it('patches the base worker Deployment (which exists) with one GPU, GPU nodes only', () => {
      expect(patchDocs).toHaveLength(1);
      expect(byKind(base, 'Deployment', 'talkie-worker')).toBeDefined();
      const container = podPatch.containers.find((c: Json) => c.name === appContainer('talkie-worker').name);
      expect(container.resources.limits['nvidia.com/gpu']).toBe(1);
      expect(podPatch.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
      expect(podPatch.tolerations).toContainEqual(expect.objectContaining({ key: 'nvidia.com/gpu', effect: 'NoSchedule' }));
    });

    it('prefers CUDA through a real worker env name, on the talkie/worker-gpu image', () => {
      const container = podPatch.containers[0];
      const names = container.env.map((e: Json) => e.name);
      expect(unknownEnvNames('worker', names)).toEqual([]);
      const env = { ...containerEnv(base, appContainer('talkie-worker')).env, ...Object.fromEntries(container.env.map((e: Json) => [e.name, e.value])) };
      expect(loadWorkerConfig(env).EXECUTION_PROVIDERS.split(',')).toEqual(['cuda', 'cpu']);
      expect(overlay.images).toContainEqual(expect.objectContaining({ name: 'talkie/worker', newName: 'talkie/worker-gpu' }));
    });
  });

  // The real renderer, where this machine has it (kubectl embeds kustomize).
  describe('rendered with kubectl kustomize', () => {
    const check = (objects: Json[], name: string) => {
      for (const o of objects) if (o.kind !== 'Namespace') expect([name, o.kind, o.metadata.namespace]).toEqual([name, o.kind, 'talkie']);
      expect([name, objects.flatMap(schemaProblems)]).toEqual([name, []]);
      checkAppEnv(objects);
      // every ConfigMap, Secret and claim a pod refers to is in the output (Secrets excepted: created by hand)
      for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
        const pod = o.spec.template.spec;
        for (const v of pod.volumes ?? []) if (v.persistentVolumeClaim) byKind(objects, 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName);
        for (const c of pod.containers) for (const f of c.envFrom ?? []) byKind(objects, 'ConfigMap', f.configMapRef.name);
      }
    };

    (kubectl ? it : it.skip).each(['cpu', 'gpu'])('overlay %s renders, and every object validates', (overlay) => {
      const objects = kustomize(path.join(K8S, 'overlays', overlay));
      check(objects, overlay);
      expect(strictFieldProblems(objects)).toEqual([]);
      const worker = byKind(objects, 'Deployment', 'talkie-worker').spec.template.spec;
      const { config } = deployedConfig(objects, 'worker');
      if (overlay === 'gpu') {
        expect(worker.containers[0].image).toBe('talkie/worker-gpu:0.1.0');
        expect(worker.containers[0].resources.limits['nvidia.com/gpu']).toBe(1);
        expect(worker.containers[0].resources.limits.memory).toBeDefined();
        expect(config.EXECUTION_PROVIDERS).toBe('cuda,cpu');
        expect(byKind(objects, 'ScaledObject', 'talkie-worker').spec.maxReplicaCount).toBeLessThan(byKind(base, 'ScaledObject', 'talkie-worker').spec.maxReplicaCount);
      } else {
        expect(worker.containers[0].image).toBe('talkie/worker:0.1.0');
        expect(worker.containers[0].resources.limits['nvidia.com/gpu']).toBeUndefined();
        expect(config.EXECUTION_PROVIDERS).toBe('cpu');
      }
      expect(byKind(objects, 'ScaledObject', 'talkie-worker').spec.minReplicaCount).toBe(0);
    }, 60_000);

    (kubectl ? it : it.skip)('overlay cpu + component s3 renders: S3 storage, no shared volume, egress to the store', () => {
      const objects = kustomizeWithS3('cpu');
      check(objects, 'cpu+s3');
      expect(findByKind(objects, 'PersistentVolumeClaim', 'talkie-storage')).toBeUndefined();
      for (const service of ['gateway', 'worker'] as const) {
        const { container, env, secrets } = deployedConfig(objects, service);
        expect(new URL(env.STORAGE_URL).protocol).toBe('s3:');
        expect(container.volumeMounts.map((m: Json) => m.mountPath)).toEqual(['/tmp']);
        expect(secrets.filter((s) => s.secret === 'talkie-s3').map((s) => s.name).sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
        const s3 = objects.filter((o) => o.kind === 'NetworkPolicy' && selects(o.spec.podSelector, podLabels(objects, service)) && o.metadata.name.includes('s3'));
        expect([service, s3.length]).toEqual([service, 1]);
      }
      expect(objects.filter((o) => o.kind === 'NetworkPolicy' && o.metadata.name.includes('s3')).every((o) => !selects(o.spec.podSelector, podLabels(objects, 'dispatcher')))).toBe(true);
    }, 60_000);
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfiles

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  body: Instruction[];
}

/** Docker's own reading: comment lines dropped (even inside a continuation), `\` joins lines. */
function dockerfile(file: string): { text: string; args: Record<string, string>; stages: Stage[] } {
  const text = read(file);
  const logical: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      current += line.replace(/\\\s*$/, ' ');
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    const upper = op.toUpperCase();
    if (upper === 'FROM') {
      const [image, as, name] = args.replace(/--platform=\S+\s+/, '').split(/\s+/);
      const resolved = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globalArgs[a ?? b] ?? '');
      stages.push({ from: resolved, name: as?.toUpperCase() === 'AS' ? name : undefined, body: [] });
    } else if (!stages.length) {
      if (upper === 'ARG') {
        const [key, value] = args.split('=');
        globalArgs[key] = value;
      }
    } else {
      stages[stages.length - 1].body.push({ op: upper, args });
    }
  }
  return { text, args: globalArgs, stages };
}

/** The image a stage finally starts from, following FROM <earlier stage>. */
function baseImage(stages: Stage[], stage: Stage): string {
  const earlier = stages.find((s) => s.name === stage.from);
  return earlier && earlier !== stage ? baseImage(stages, earlier) : stage.from;
}

/** @talkie/* workspaces a package needs at run time, transitively, as repo paths. */
function runtimeWorkspaces(pkgDir: string, seen = new Set<string>()): Set<string> {
  const pkg = JSON.parse(read(path.join(ROOT, pkgDir, 'package.json')));
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    if (!dep.startsWith('@talkie/')) continue;
    const dir = ['packages', 'services', 'tools']
      .map((top) => `${top}/${dep.slice('@talkie/'.length)}`)
      .find((candidate) => existsSync(path.join(ROOT, candidate, 'package.json')));
    if (!dir) throw new Error(`${pkgDir}: ${dep} is no workspace`);
    if (!seen.has(dir)) {
      seen.add(dir);
      runtimeWorkspaces(dir, seen);
    }
  }
  return seen;
}

const NODE_IMAGE = 'node:20.19-bookworm-slim';
const DOCKER_DIRS = { gateway: 'gateway', worker: 'worker', dispatcher: 'webhook-dispatcher', postprocess: 'postprocess' } as const;
const OPS_PORT = { gateway: 9464, worker: 9465, dispatcher: 9466, postprocess: 9467 } as const;

describe.each(Object.entries(DOCKER_DIRS) as [Service, string][])('services/%s Dockerfile', (service, dir) => {
  const file = path.join(ROOT, 'services', dir, 'Dockerfile');
  const { text, args, stages } = dockerfile(file);
  const runtime = stages[stages.length - 1];
  const ops = (op: string, stage = runtime) => stage.body.filter((i) => i.op === op).map((i) => i.args);

  it('builds on node:20.19-bookworm-slim (the GPU base aside), pinned by tag (digest pending, no fake one)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    for (const stage of stages) {
      const image = baseImage(stages, stage);
      if (stage.name === 'base-gpu') expect(image).toMatch(/^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu24\.04$/);
      else expect([stage.name, image]).toEqual([stage.name, NODE_IMAGE]);
    }
    expect(runtime.name).toBe('runtime');
    expect(text).toContain('# TODO(issue 9): pin by digest');
    expect(text).not.toMatch(/@sha256:/);
  });

  it('compiles with npm ci and npm run build, without downloading onnxruntime extras', () => {
    const build = stages[0];
    expect(ops('RUN', build).some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(ops('RUN', build).some((r) => r.includes(`npm run build -- --filter=@talkie/${dir}...`))).toBe(true);
    expect(ops('ENV', build).join(' ')).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip\b/);
  });

  it('runs as the non-root uid 10001 with NODE_ENV=production', () => {
    const users = ops('USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users[users.length - 1]).toMatch(/^10001(:10001)?$/);
    expect(ops('ENV').join(' ')).toMatch(/\bNODE_ENV=production\b/);
  });

  it(`starts services/${dir}/dist/main.js, the compiled form of src/main.ts`, () => {
    const cmd = JSON.parse(ops('CMD').pop()!);
    expect(cmd).toEqual(['node', `services/${dir}/dist/main.js`]);
    const tsconfig = JSON.parse(read(path.join(ROOT, 'services', dir, 'tsconfig.json')));
    expect(tsconfig.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: 'src' });
    expect(existsSync(path.join(ROOT, 'services', dir, 'src', 'main.ts'))).toBe(true);
    expect(ops('COPY').some((c) => c.endsWith(`/services/${dir}/dist ./services/${dir}/dist`))).toBe(true);
  });

  it('health-checks /healthz with node (no curl in slim images), on the port the service listens on', () => {
    const [check] = ops('HEALTHCHECK');
    expect(check).toMatch(/CMD \["node", "-e", .*fetch\(.*\/healthz/);
    expect(check).not.toMatch(/\b(curl|wget)\b/);
    const exposed = ops('EXPOSE').join(' ').split(/\s+/).map(Number);
    if (service === 'gateway') {
      expect(check).toContain('process.env.PORT || 8080');
      expect(GatewayEnv.shape.PORT.parse(undefined)).toBe(8080);
      expect(GatewayEnv.shape.METRICS_PORT.parse(undefined)).toBe(OPS_PORT.gateway);
      expect(exposed).toEqual([8080, OPS_PORT.gateway]);
    } else {
      expect(check).toContain(`process.env.HEALTH_PORT || ${OPS_PORT[service]}`);
      expect(ops('ENV').join(' ')).toMatch(new RegExp(`\\bHEALTH_PORT=${OPS_PORT[service]}\\b`));
      expect(exposed).toEqual([OPS_PORT[service]]);
    }
  });

  it('ships exactly the workspaces the service needs (package.json in deps, dist in runtime)', () => {
    const needed = [...runtimeWorkspaces(`services/${dir}`)].sort();
    const depsStage = stages.find((s) => s.name === 'deps')!;
    const manifests = ops('COPY', depsStage)
      .map((c) => /^(packages\/[\w-]+|services\/[\w-]+)\/package\.json /.exec(c)?.[1])
      .filter(Boolean);
    expect(manifests.sort()).toEqual([...needed, `services/${dir}`].sort());
    expect(ops('RUN', depsStage).join(' ')).toContain(`npm ci --omit=dev --workspace=services/${dir}`);
    const dists = ops('COPY')
      .map((c) => /^--from=build \/src\/((?:packages|services)\/[\w-]+)\/dist /.exec(c)?.[1])
      .filter(Boolean);
    expect(dists.sort()).toEqual([...needed, `services/${dir}`].sort());
  });

  if (service === 'dispatcher' || service === 'postprocess') {
    it('carries no ffmpeg and no model runtime', () => {
      expect(ops('RUN').join(' ')).not.toMatch(/apt-get/);
      expect(ops('COPY').join(' ')).not.toMatch(/inference|demo-model|media/);
    });
  } else {
    // Both need ffprobe: the gateway checks every upload's container before queueing it.
    it("installs the distribution's ffmpeg without recommends and cleans the apt lists", () => {
      const apt = ops('RUN').find((r) => r.includes('apt-get install'))!;
      expect(apt).toMatch(/apt-get update/);
      expect(apt).toMatch(/apt-get install -y --no-install-recommends ffmpeg\b/);
      expect(apt).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\*/);
    });
  }
  if (service === 'gateway') {
    it('compiles talkie-probe against Debian\'s libavformat in the build stage, insists on it, and ships it', () => {
      const build = stages[0];
      const apt = ops('RUN', build).find((r) => r.includes('apt-get install'))!;
      expect(apt).toMatch(/--no-install-recommends gcc libc6-dev pkg-config libavformat-dev libavcodec-dev libavutil-dev/);
      expect(apt).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\*/);
      expect(ops('ENV', build).join(' ')).toMatch(/\bTALKIE_REQUIRE_PROBER=1\b/);
      // `npm run build` runs the media package's build:native task, which compiles it
      expect(JSON.parse(read(path.join(ROOT, 'package.json'))).scripts.build).toMatch(/turbo run build build:native\b/);
      expect(JSON.parse(read(path.join(ROOT, 'packages/media/package.json'))).scripts['build:native']).toBe('node scripts/build-prober.mjs');
      // shipped where residentProberPath() looks (dist/../native/build), with no compiler in the runtime
      expect(ops('COPY')).toContain('--from=build /src/packages/media/native/build/talkie-probe ./packages/media/native/build/talkie-probe');
      expect(ops('RUN').join(' ')).not.toMatch(/\bgcc\b|-dev\b/);
    });

    it('carries no model runtime', () => {
      expect(ops('COPY').join(' ')).not.toMatch(/inference|demo-model/);
    });
  }
  if (service === 'worker') {
    it('builds the GPU variant with the CUDA provider fetched at build time, on the CUDA base', () => {
      expect(args.VARIANT).toBe('cpu');
      expect(args.ONNXRUNTIME_NODE_INSTALL).toBe('skip');
      expect(runtime.from).toBe('base-cpu'); // FROM base-${VARIANT}
      expect(text).toMatch(/^FROM base-\$\{VARIANT\} AS runtime$/m);
      const deps = stages.find((s) => s.name === 'deps')!;
      expect(ops('ARG', deps)).toContain('ONNXRUNTIME_NODE_INSTALL');
      expect(ops('ENV', deps).join(' ')).toContain('ONNXRUNTIME_NODE_INSTALL=${ONNXRUNTIME_NODE_INSTALL}');
      const gpu = stages.find((s) => s.name === 'base-gpu')!;
      expect(ops('COPY', gpu)).toContain('--from=build /usr/local/bin/node /usr/local/bin/node');
      // onnxruntime-node's install script knows the flag compose and the README pass, for this platform
      const metadata = require('onnxruntime-node/script/install-metadata.js');
      expect(metadata.requirements['linux/x64']).toContain('cuda12');
      const cudaFiles = Object.keys(metadata.manifests['linux/x64:cuda12']).map((f) => path.basename(f));
      expect(cudaFiles).toContain('libonnxruntime_providers_cuda.so');
      // and the runtime refuses a GPU image without it
      expect(ops('RUN').join(' ')).toContain('libonnxruntime_providers_cuda.so');
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Prometheus and Grafana

describe('deploy/prometheus/prometheus.yml', () => {
  const file = path.join(ROOT, 'deploy', 'prometheus', 'prometheus.yml');
  const [config] = yamlDocs(file);
  const [compose] = yamlDocs(path.join(ROOT, 'docker-compose.yml'));
  const jobs = config.scrape_configs as Json[];

  it("scrapes each service's ops port, by the compose service names", () => {
    const targets = Object.fromEntries(jobs.flatMap((job) => job.dns_sd_configs.flatMap((sd: Json) => sd.names.map((n: string) => [n, sd.port]))));
    const gateway = loadGatewayConfig(composeEnv(compose.services.gateway));
    expect(targets.gateway).toBe(gateway.METRICS_PORT);
    expect(targets.worker).toBe(loadWorkerConfig(composeEnv(compose.services.worker)).HEALTH_PORT);
    expect(targets['worker-gpu']).toBe(loadWorkerConfig(composeEnv(compose.services['worker-gpu'])).HEALTH_PORT);
    expect(targets['webhook-dispatcher']).toBe(loadDispatcherConfig(composeEnv(compose.services['webhook-dispatcher'])).HEALTH_PORT);
    expect(targets.postprocess).toBe(loadPostprocessConfig(composeEnv(compose.services.postprocess)).HEALTH_PORT);
    for (const name of Object.keys(targets)) expect(compose.services[name]).toBeDefined();
    for (const job of jobs) expect(job.metrics_path).toBe('/metrics');
    // the file compose mounts
    expect(compose.services.prometheus.volumes).toContain('./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
  });

  (promtool ? it : it.skip)('passes promtool check config', () => {
    const out = spawnSync('promtool', ['check', 'config', file], { encoding: 'utf8', timeout: 30_000 });
    expect(out.stdout + out.stderr).toContain('SUCCESS');
    expect(out.status).toBe(0);
  });
});

describe('deploy/grafana/talkie-dashboard.json', () => {
  const dashboard = JSON.parse(read(path.join(ROOT, 'deploy', 'grafana', 'talkie-dashboard.json')));
  const exprs: string[] = dashboard.panels.flatMap((p: Json) => p.targets.map((t: Json) => t.expr));
  const defined = [
    'services/gateway/src/observability/gateway-metrics.ts',
    'services/worker/src/observability/worker-metrics.ts',
  ].map((f) => read(path.join(ROOT, f))).join('\n');

  it('charts the HTTP, queue, stage and failure metrics', () => {
    for (const metric of ['talkie_http_request_duration_seconds', 'talkie_queue_jobs', 'talkie_worker_stage_duration_seconds', 'talkie_worker_job_failures_total']) {
      expect([metric, exprs.some((e) => e.includes(metric))]).toEqual([metric, true]);
    }
  });

  it('uses only metrics the services define, through a datasource variable', () => {
    const used = new Set(exprs.flatMap((e) => e.match(/\btalkie_\w+/g) ?? []).map((m) => m.replace(/_(bucket|count|sum)$/, '')));
    for (const metric of used) expect([metric, defined.includes(`name: '${metric}'`)]).toEqual([metric, true]);
    expect(dashboard.templating.list.map((v: Json) => v.type)).toContain('datasource');
    for (const panel of dashboard.panels) expect(panel.datasource.uid).toBe('${datasource}');
    expect(new Set(dashboard.panels.map((p: Json) => p.id)).size).toBe(dashboard.panels.length);
  });
});

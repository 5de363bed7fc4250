/**
 * Deployment files against the code they deploy: docker-compose.yml, k8s/ (kustomize) and the
 * two Dockerfiles. No Docker engine or cluster is needed: the files are parsed, and every env
 * name and value they set is checked against the services' own zod schemas, so a typo or a bad
 * value fails here rather than at start in production.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { GatewayEnv, loadGatewayConfig } from '../services/gateway/src/config';
import { loadWorkerConfig, WorkerEnv } from '../services/worker/src/config';

const ROOT = path.resolve(__dirname, '..');
const K8S = path.join(ROOT, 'k8s');
const BASE = path.join(K8S, 'base');

/** A value for each variable that compose interpolates without a default. */
const SAMPLE_VARS: Record<string, string> = { JWT_SECRET: 'j'.repeat(48) };

/**
 * Env names a deployment may set that are not in a service's schema, with who reads them.
 * Anything else outside the schema is a typo (the schema would silently ignore it).
 */
const EXTRA_ENV: Record<'gateway' | 'worker', Record<string, string>> = {
  gateway: {
    NODE_ENV: 'Node libraries (express); the images set production',
    NODE_OPTIONS: 'node itself (heap size and the like)',
  },
  worker: {
    NODE_ENV: 'Node libraries; the images set production',
    NODE_OPTIONS: 'node itself (heap size and the like)',
    FFMPEG_PATH: '@talkie/media resolveFfmpeg (with FFPROBE_PATH)',
    FFPROBE_PATH: '@talkie/media resolveFfmpeg (with FFMPEG_PATH)',
  },
};

const SCHEMA_KEYS = {
  gateway: new Set(Object.keys(GatewayEnv.shape)),
  worker: new Set(Object.keys(WorkerEnv.shape)),
};

type Service = 'gateway' | 'worker';
type Json = any; // parsed YAML: shapes are what the assertions check

const read = (file: string) => readFileSync(file, 'utf8');
const rel = (file: string) => path.relative(ROOT, file);

function unknownEnvNames(service: Service, names: Iterable<string>): string[] {
  return [...names].filter((name) => !SCHEMA_KEYS[service].has(name) && !(name in EXTRA_ENV[service]));
}

function loadConfig(service: Service, env: Record<string, string>) {
  return service === 'gateway' ? loadGatewayConfig(env) : loadWorkerConfig(env);
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

function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return yamlFilesUnder(full);
    return /\.ya?ml$/.test(entry.name) ? [full] : [];
  });
}

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

describe('docker-compose.yml', () => {
  const file = path.join(ROOT, 'docker-compose.yml');
  const [compose] = yamlDocs(file);
  const services = compose.services as Record<string, Json>;
  const APP: Record<string, Service> = { gateway: 'gateway', worker: 'worker', 'worker-gpu': 'worker' };

  it('parses as one document with redis, gateway, worker and worker-gpu (profile gpu)', () => {
    expect(yamlDocs(file)).toHaveLength(1);
    expect(Object.keys(services).sort()).toEqual(['gateway', 'redis', 'worker', 'worker-gpu']);
    expect(services['worker-gpu'].profiles).toEqual(['gpu']);
    for (const name of ['gateway', 'worker', 'redis']) expect(services[name].profiles).toBeUndefined();
  });

  it('runs Redis with AOF and noeviction, health-checked, on a named volume', () => {
    const redis = services.redis;
    expect(redis.image).toBe('redis:7.4-alpine');
    const command: string[] = Array.isArray(redis.command) ? redis.command.map(String) : String(redis.command).split(/\s+/);
    expect(command.join(' ')).toContain('--appendonly yes');
    expect(command.join(' ')).toContain('--maxmemory-policy noeviction');
    expect(redis.healthcheck.test.join(' ')).toContain('redis-cli ping');
    const [volume] = String(redis.volumes[0]).split(':');
    expect(Object.keys(compose.volumes)).toContain(volume);
  });

  it.each(Object.entries(APP))('%s sets only env names its config schema reads, with valid values', (name, service) => {
    const env = composeEnv(services[name]);
    expect(unknownEnvNames(service, Object.keys(env))).toEqual([]);
    expect(() => loadConfig(service, env)).not.toThrow();
  });

  it('takes JWT_SECRET from the host, required, never a default baked into the file', () => {
    expect(services.gateway.environment.JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?[^}]+\}$/);
    expect(() => interpolate(services.gateway.environment.JWT_SECRET, {})).toThrow(/required/);
  });

  it("publishes the gateway's PORT on the host's loopback only", () => {
    const config = loadGatewayConfig(composeEnv(services.gateway));
    const ports = composePorts(services.gateway);
    expect(ports).toHaveLength(1);
    expect(ports[0]).toEqual({ hostIp: '127.0.0.1', published: '8080', target: config.PORT });
    // inside the container it must listen beyond its own loopback for the published port to reach it
    expect(config.HOST).toBe('0.0.0.0');
    for (const name of ['worker', 'worker-gpu', 'redis']) expect(services[name].ports).toBeUndefined();
  });

  it('gives the workers a health server on HEALTH_PORT (the image HEALTHCHECK uses it)', () => {
    for (const name of ['worker', 'worker-gpu']) {
      expect(loadWorkerConfig(composeEnv(services[name])).HEALTH_PORT).toBe(9465);
    }
    expect(services.worker.deploy.replicas).toBe(1);
  });

  it('shares Redis and the upload volume between the gateway and the workers', () => {
    const envs = Object.keys(APP).map((name) => composeEnv(services[name]));
    for (const key of ['REDIS_URL', 'STORAGE_URL']) expect(new Set(envs.map((env) => env[key])).size).toBe(1);
    expect(new URL(envs[0].REDIS_URL).hostname).toBe('redis');
    const storagePath = new URL(envs[0].STORAGE_URL).pathname;
    expect(storagePath).toBe('/data/storage');
    expect(Object.keys(compose.volumes)).toContain('storage');
    for (const name of Object.keys(APP)) {
      expect(services[name].volumes).toContain(`storage:${storagePath}`);
      expect(services[name].depends_on.redis.condition).toBe('service_healthy');
    }
  });

  it('hardens every container: read-only root with a /tmp tmpfs, no new privileges, no capabilities', () => {
    for (const [name, service] of Object.entries(services)) {
      expect([name, service.read_only]).toEqual([name, true]);
      expect([name, service.tmpfs]).toEqual([name, expect.arrayContaining(['/tmp'])]);
      expect([name, service.security_opt]).toEqual([name, expect.arrayContaining(['no-new-privileges:true'])]);
      expect([name, service.cap_drop]).toEqual([name, ['ALL']]);
    }
  });

  it('builds each app image from the repository root with its own Dockerfile', () => {
    for (const [name, service] of Object.entries(APP)) {
      expect(service === 'gateway' ? services[name].image : services[name].image.replace(/-gpu:/, ':')).toBe(`talkie/${service}:0.1.0`);
      expect(services[name].build.context).toBe('.');
      expect(services[name].build.dockerfile).toBe(`services/${service}/Dockerfile`);
      expect(existsSync(path.join(ROOT, services[name].build.dockerfile))).toBe(true);
    }
  });

  it('reserves one NVIDIA GPU for worker-gpu and prefers CUDA there', () => {
    const gpu = services['worker-gpu'];
    expect(gpu.deploy.resources.reservations.devices).toEqual([{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    expect(loadWorkerConfig(composeEnv(gpu)).EXECUTION_PROVIDERS.split(',')).toEqual(['cuda', 'cpu']);
    expect(loadWorkerConfig(composeEnv(services.worker)).EXECUTION_PROVIDERS).toBe('cpu');
    expect(gpu.build.args.ONNXRUNTIME_NODE_INSTALL).toBe('cuda12');
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
  return (body.resources as string[]).flatMap((entry) => {
    const full = path.resolve(dir, entry);
    if (!existsSync(full)) return []; // reported by the kustomization test, not as a crash here
    return statSync(full).isDirectory() ? resourcesOf(full) : yamlDocs(full);
  });
}

const byKind = (objects: Json[], kind: string, name: string): Json => {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
};

/** The env a container gets: its ConfigMaps (envFrom), then its own env entries (which win). */
function containerEnv(objects: Json[], container: Json): { env: Record<string, string>; secrets: { name: string; secret: string; key: string }[] } {
  const env: Record<string, string> = {};
  const secrets: { name: string; secret: string; key: string }[] = [];
  for (const from of container.envFrom ?? []) {
    if (!from.configMapRef) throw new Error(`${container.name}: envFrom other than a ConfigMap hides which names it sets`);
    Object.assign(env, byKind(objects, 'ConfigMap', from.configMapRef.name).data);
  }
  for (const entry of container.env ?? []) {
    if (entry.valueFrom?.secretKeyRef) {
      secrets.push({ name: entry.name, secret: entry.valueFrom.secretKeyRef.name, key: entry.valueFrom.secretKeyRef.key });
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

describe('k8s/', () => {
  const files = yamlFilesUnder(K8S);
  const base = resourcesOf(BASE);
  const deployments = base.filter((o) => o.kind === 'Deployment');
  const SERVICE_OF: Record<string, Service> = { 'talkie-gateway': 'gateway', 'talkie-worker': 'worker' };
  const appContainer = (name: string) => byKind(base, 'Deployment', name).spec.template.spec.containers[0];

  it('parses: every YAML document under k8s/, each a Kubernetes or kustomize object', () => {
    expect(files.length).toBeGreaterThanOrEqual(12);
    for (const file of files) {
      const docs = yamlDocs(file);
      expect([rel(file), docs.length > 0]).toEqual([rel(file), true]);
      for (const doc of docs) expect([rel(file), typeof doc.apiVersion, typeof doc.kind]).toEqual([rel(file), 'string', 'string']);
    }
  });

  it('lists only files that exist in every kustomization, and leaves no manifest of the base out', () => {
    const all = kustomizations();
    expect(all.map((k) => path.relative(K8S, k.dir)).sort()).toEqual(['base', 'overlays/cpu', 'overlays/gpu']);
    for (const { dir, body, file } of all) {
      expect([rel(file), body.kind]).toEqual([rel(file), 'Kustomization']);
      for (const entry of body.resources ?? []) {
        const full = path.resolve(dir, entry);
        const ok = existsSync(full) && (statSync(full).isFile() || existsSync(path.join(full, 'kustomization.yaml')));
        expect([rel(file), entry, ok]).toEqual([rel(file), entry, true]);
      }
      for (const patch of body.patches ?? []) {
        if (patch.path) expect(existsSync(path.resolve(dir, patch.path))).toBe(true);
      }
    }
    const listed: string[] = yamlDocs(path.join(BASE, 'kustomization.yaml'))[0].resources;
    const manifests = readdirSync(BASE).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    expect(manifests.filter((f) => !listed.includes(f))).toEqual(['secret.example.yaml']);
    for (const overlay of ['cpu', 'gpu']) {
      expect(yamlDocs(path.join(K8S, 'overlays', overlay, 'kustomization.yaml'))[0].resources).toContain('../../base');
    }
  });

  it('keeps the example secret out of the base, with a placeholder the gateway refuses', () => {
    const listed: string[] = yamlDocs(path.join(BASE, 'kustomization.yaml'))[0].resources;
    expect(listed).not.toContain('secret.example.yaml');
    expect(base.filter((o) => o.kind === 'Secret')).toEqual([]);
    const [example] = yamlDocs(path.join(BASE, 'secret.example.yaml'));
    expect(example.kind).toBe('Secret');
    expect(example.metadata.name).toBe('talkie-secrets');
    expect(Object.keys(example.stringData)).toEqual(['JWT_SECRET']);
    expect(GatewayEnv.shape.JWT_SECRET.safeParse(example.stringData.JWT_SECRET).success).toBe(false);
  });

  it('puts everything in the talkie namespace', () => {
    expect(byKind(base, 'Namespace', 'talkie')).toBeDefined();
    expect(yamlDocs(path.join(BASE, 'kustomization.yaml'))[0].namespace).toBe('talkie');
  });

  it('has ConfigMaps whose every key is read by the services that load them', () => {
    const maps = base.filter((o) => o.kind === 'ConfigMap');
    expect(maps.map((m) => m.metadata.name).sort()).toEqual(['talkie-common', 'talkie-gateway', 'talkie-worker']);
    const common = Object.keys(byKind(base, 'ConfigMap', 'talkie-common').data);
    // shared keys: read by both services, so one value serves both
    expect(unknownEnvNames('gateway', common)).toEqual([]);
    expect(unknownEnvNames('worker', common)).toEqual([]);
    expect(unknownEnvNames('gateway', Object.keys(byKind(base, 'ConfigMap', 'talkie-gateway').data))).toEqual([]);
    expect(unknownEnvNames('worker', Object.keys(byKind(base, 'ConfigMap', 'talkie-worker').data))).toEqual([]);
    expect(maps.flatMap((m) => Object.keys(m.data))).not.toContain('JWT_SECRET');
  });

  it.each([
    ['talkie-gateway', 2, 'talkie/gateway:0.1.0'],
    ['talkie-worker', 1, 'talkie/worker:0.1.0'],
  ])('%s: replicas, image, env names and values valid for its schema', (name, replicas, image) => {
    const deployment = byKind(base, 'Deployment', name);
    expect(deployment.apiVersion).toBe('apps/v1');
    expect(deployment.spec.replicas).toBe(replicas);
    const containers = deployment.spec.template.spec.containers;
    expect(containers).toHaveLength(1);
    expect(containers[0].image).toBe(image);
    const service = SERVICE_OF[name];
    const { env, secrets } = containerEnv(base, containers[0]);
    expect(unknownEnvNames(service, [...Object.keys(env), ...secrets.map((s) => s.name)])).toEqual([]);
    const withSecrets = { ...env, ...Object.fromEntries(secrets.map((s) => [s.name, SAMPLE_VARS[s.name]])) };
    expect(() => loadConfig(service, withSecrets)).not.toThrow();
    // selector matches the pod template
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
  });

  it('gives the gateway JWT_SECRET from the Secret talkie-secrets only', () => {
    const { env, secrets } = containerEnv(base, appContainer('talkie-gateway'));
    expect(env.JWT_SECRET).toBeUndefined();
    expect(secrets).toEqual([{ name: 'JWT_SECRET', secret: 'talkie-secrets', key: 'JWT_SECRET' }]);
    expect(containerEnv(base, appContainer('talkie-worker')).secrets).toEqual([]);
  });

  it("probes the gateway on PORT and routes its Service there", () => {
    const container = appContainer('talkie-gateway');
    const { env, secrets } = containerEnv(base, container);
    const config = loadGatewayConfig({ ...env, [secrets[0].name]: SAMPLE_VARS.JWT_SECRET });
    expect(config.HOST).toBe('0.0.0.0');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(resolvePort(container, container.readinessProbe.httpGet.port)).toBe(config.PORT);
    expect(resolvePort(container, container.livenessProbe.httpGet.port)).toBe(config.PORT);
    const service = byKind(base, 'Service', 'talkie-gateway');
    expect(resolvePort(container, service.spec.ports[0].targetPort)).toBe(config.PORT);
    expect(byKind(base, 'Deployment', 'talkie-gateway').spec.template.metadata.labels).toMatchObject(service.spec.selector);
  });

  it("probes the worker on HEALTH_PORT's value, served beyond the pod's loopback", () => {
    const container = appContainer('talkie-worker');
    const config = loadWorkerConfig(containerEnv(base, container).env);
    expect(config.HEALTH_PORT).toBe(9465);
    // the kubelet probes the pod IP: a loopback health server would fail every probe
    expect(['0.0.0.0', '::']).toContain(config.HEALTH_HOST);
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(resolvePort(container, container.readinessProbe.httpGet.port)).toBe(config.HEALTH_PORT);
    expect(resolvePort(container, container.livenessProbe.httpGet.port)).toBe(config.HEALTH_PORT);
  });

  it('hardens every Deployment and StatefulSet container', () => {
    const workloads = base.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
    expect(workloads.length).toBe(3);
    for (const workload of workloads) {
      const pod = workload.spec.template.spec;
      for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
        const sc = container.securityContext ?? {};
        const where = `${workload.metadata.name}/${container.name}`;
        expect([where, sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot]).toEqual([where, true]);
        expect([where, sc.readOnlyRootFilesystem]).toEqual([where, true]);
        expect([where, sc.allowPrivilegeEscalation]).toEqual([where, false]);
        expect([where, sc.capabilities?.drop]).toEqual([where, ['ALL']]);
        expect([where, container.resources?.limits?.memory]).toEqual([where, expect.any(String)]);
      }
      // the images' non-root user; numeric so the kubelet can verify runAsNonRoot
      if (workload.kind === 'Deployment') expect(pod.securityContext.runAsUser).toBe(10001);
    }
  });

  it('mounts the ReadWriteMany upload PVC at the STORAGE_URL path, and /tmp as an emptyDir', () => {
    const pvc = byKind(base, 'PersistentVolumeClaim', 'talkie-storage');
    expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']);
    for (const deployment of deployments) {
      const pod = deployment.spec.template.spec;
      const container = pod.containers[0];
      const storagePath = new URL(containerEnv(base, container).env.STORAGE_URL).pathname;
      const mountAt = (mountPath: string) => {
        const mount = container.volumeMounts.find((m: Json) => m.mountPath === mountPath);
        return mount && pod.volumes.find((v: Json) => v.name === mount.name);
      };
      expect(mountAt(storagePath)?.persistentVolumeClaim?.claimName).toBe('talkie-storage');
      expect(mountAt('/tmp')?.emptyDir).toBeDefined();
      expect(pod.securityContext.fsGroup).toBe(10001);
    }
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
  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
  (kubectl ? it : it.skip).each(['cpu', 'gpu'])('renders with kubectl kustomize: overlay %s', (overlay) => {
    const out = spawnSync('kubectl', ['kustomize', path.join(K8S, 'overlays', overlay)], { encoding: 'utf8', timeout: 30_000 });
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    const objects = parseAllDocuments(out.stdout).map((d) => d.toJS());
    for (const o of objects) if (o.kind !== 'Namespace') expect([o.kind, o.metadata.namespace]).toEqual([o.kind, 'talkie']);
    const worker = byKind(objects, 'Deployment', 'talkie-worker').spec.template.spec;
    if (overlay === 'gpu') {
      expect(worker.containers[0].image).toBe('talkie/worker-gpu:0.1.0');
      expect(worker.containers[0].resources.limits['nvidia.com/gpu']).toBe(1);
      expect(worker.containers[0].resources.limits.memory).toBeDefined();
      expect(loadWorkerConfig(containerEnv(objects, worker.containers[0]).env).EXECUTION_PROVIDERS).toBe('cuda,cpu');
    } else {
      expect(worker.containers[0].image).toBe('talkie/worker:0.1.0');
      expect(worker.containers[0].resources.limits['nvidia.com/gpu']).toBeUndefined();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfiles

interface Instruction {
  op: string;
  args: string;
}

/** Docker's own reading: comment lines dropped (even inside a continuation), `\` joins lines. */
function dockerfile(file: string): { text: string; stages: { from: string; name?: string; body: Instruction[] }[] } {
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
  const stages: { from: string; name?: string; body: Instruction[] }[] = [];
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
  return { text, stages };
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

describe.each(['gateway', 'worker'] as const)('services/%s/Dockerfile', (service) => {
  const file = path.join(ROOT, 'services', service, 'Dockerfile');
  const { text, stages } = dockerfile(file);
  const runtime = stages[stages.length - 1];
  const ops = (op: string, stage = runtime) => stage.body.filter((i) => i.op === op).map((i) => i.args);

  it('builds on node:20.19-bookworm-slim in every stage, pinned by tag (digest pending, no fake one)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.from).toBe('node:20.19-bookworm-slim');
    expect(text).toContain('# TODO(issue 9): pin by digest');
    expect(text).not.toMatch(/@sha256:/);
  });

  it('compiles with npm ci and npm run build, without downloading onnxruntime extras', () => {
    const build = stages[0];
    expect(ops('RUN', build).some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(ops('RUN', build).some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    expect(ops('ENV', build).join(' ')).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip\b/);
  });

  it('runs as the non-root uid 10001 with NODE_ENV=production', () => {
    const users = ops('USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1];
    expect(user).toMatch(/^10001(:10001)?$/);
    expect(ops('ENV').join(' ')).toMatch(/\bNODE_ENV=production\b/);
  });

  it(`starts services/${service}/dist/main.js, the compiled form of src/main.ts`, () => {
    const cmd = JSON.parse(ops('CMD').pop()!);
    expect(cmd).toEqual(['node', `services/${service}/dist/main.js`]);
    const tsconfig = JSON.parse(read(path.join(ROOT, 'services', service, 'tsconfig.json')));
    expect(tsconfig.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: 'src' });
    expect(existsSync(path.join(ROOT, 'services', service, 'src', 'main.ts'))).toBe(true);
    expect(ops('COPY').some((c) => c.endsWith(`/services/${service}/dist ./services/${service}/dist`))).toBe(true);
  });

  it('health-checks /healthz with node (no curl in slim images)', () => {
    const [check] = ops('HEALTHCHECK');
    expect(check).toMatch(/CMD \["node", "-e", .*fetch\(.*\/healthz/);
    expect(check).not.toMatch(/\b(curl|wget)\b/);
    if (service === 'gateway') {
      expect(check).toContain('process.env.PORT || 8080');
      expect(GatewayEnv.shape.PORT.parse(undefined)).toBe(8080);
      expect(ops('EXPOSE')).toEqual(['8080']);
    } else {
      expect(check).toContain('process.env.HEALTH_PORT || 9465');
      expect(ops('ENV').join(' ')).toMatch(/\bHEALTH_PORT=9465\b/);
    }
  });

  it('ships exactly the workspaces the service needs (package.json in deps, dist in runtime)', () => {
    const needed = [...runtimeWorkspaces(`services/${service}`)].sort();
    const depsStage = stages.find((s) => s.name === 'deps')!;
    const manifests = ops('COPY', depsStage)
      .map((c) => /^(packages\/[\w-]+|services\/[\w-]+)\/package\.json /.exec(c)?.[1])
      .filter(Boolean);
    expect(manifests.sort()).toEqual([...needed, `services/${service}`].sort());
    expect(ops('RUN', depsStage).join(' ')).toContain(`--workspace=services/${service}`);
    const dists = ops('COPY')
      .map((c) => /^--from=build \/src\/((?:packages|services)\/[\w-]+)\/dist /.exec(c)?.[1])
      .filter(Boolean);
    expect(dists.sort()).toEqual([...needed, `services/${service}`].sort());
  });

  // Both need ffprobe: the gateway checks every upload's container before queueing it.
  it("installs Debian's ffmpeg without recommends and cleans the apt lists", () => {
    const apt = ops('RUN').find((r) => r.includes('apt-get install'))!;
    expect(apt).toMatch(/apt-get update/);
    expect(apt).toMatch(/apt-get install -y --no-install-recommends ffmpeg\b/);
    expect(apt).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\*/);
  });
  if (service === 'gateway') {
    it('carries no model runtime', () => {
      expect(ops('COPY').join(' ')).not.toMatch(/inference|demo-model/);
    });
  }
});

import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { WARNING_CODES } from '@talkie/contracts';
import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { startStack, type Stack } from './support/stack';

/**
 * The OpenAPI document is generated from the schemas the code uses; this checks it against the
 * running gateway: every route the app serves is documented, every documented route exists, and
 * real answers validate against the documented schemas.
 */
interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  rawPath?: unknown;
}

function servedRoutes(stack: Layer[], prefix = ''): string[] {
  const found: string[] = [];
  for (const layer of stack) {
    if (layer.route) {
      for (const method of Object.keys(layer.route.methods)) {
        found.push(`${method} ${(prefix + layer.route.path).replace(/\/$/, '') || '/'}`.replace(/:(\w+)/g, '{$1}'));
      }
    } else if (layer.handle?.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      found.push(...servedRoutes(layer.handle.stack, prefix + mount));
    }
  }
  return found;
}

describe('OpenAPI 3.1 document', () => {
  let stack: Stack;
  let doc: { openapi: string; paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> }>>; components: { schemas: Record<string, object> } };
  let ajv: Ajv2020;

  beforeAll(async () => {
    stack = await startStack({ name: 'openapi' });
    doc = await (await fetch(`${stack.baseUrl}/openapi.json`)).json();
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    for (const [name, schema] of Object.entries(doc.components.schemas)) ajv.addSchema(schema, `#/components/schemas/${name}`);
  }, 60_000);
  afterAll(() => stack?.stop());

  const validate = (schemaName: string, body: unknown) => {
    const check = ajv.getSchema(`#/components/schemas/${schemaName}`)!;
    const ok = check(body);
    if (!ok) throw new Error(`${schemaName}: ${ajv.errorsText(check.errors)}\n${JSON.stringify(body)}`);
  };

  it('is OpenAPI 3.1 and documents exactly the routes the app serves', async () => {
    expect(doc.openapi).toBe('3.1.0');
    // Build the same app as main.ts does, without listening, to read its routes.
    const { createApp } = await import('../services/gateway/src/app');
    const noop = async () => undefined;
    const app = createApp({
      logger: (await import('@talkie/runtime')).createLogger({ service: 't', level: 'silent' }),
      redis: stack.redis,
      storage: { ping: noop } as never,
      store: {} as never,
      queue: {} as never,
      prober: {} as never,
      corsOrigins: [],
      trustProxy: 0,
      rateLimit: { windowMs: 1000, max: 1, jobsMax: 1 },
      maxUploadBytes: 1,
      mediaLimits: { maxDurationS: 1, maxStreams: 1, maxFramePixels: 1, maxFrames: 1 },
      probeTimeoutMs: 1,
      maxJobsInFlight: 1,
      maxQueueDepth: 1,
      idempotency: {} as never,
      webhooks: { validateUrl: async (u: string) => new URL(u), secrets: { rotate: async () => '', active: async () => [] }, deliveries: { list: async () => [], delete: async () => undefined }, overlapS: 0 },
    });
    const served = servedRoutes((app as unknown as { router: { stack: Layer[] } }).router.stack).sort();
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m} ${path}`)).sort();
    expect(served).toEqual(documented);
  });

  it('validates real answers against the documented schemas', async () => {
    const token = stack.token('alice');
    const auth = { authorization: `Bearer ${token}` };
    const video = await fixture('OPEN API');
    const created = await submit(stack.baseUrl, token, video.file);
    validate('JobResource', created.body);
    const done = await waitForJob(stack.baseUrl, token, created.body.id);
    validate('JobResource', done);
    validate('JobList', await (await fetch(`${stack.baseUrl}/v1/jobs?limit=5`, { headers: auth })).json());
    validate('TranscriptResult', await (await fetch(`${stack.baseUrl}/v1/jobs/${done.id}/result`, { headers: auth })).json());
    validate('DeliveryList', await (await fetch(`${stack.baseUrl}/v1/jobs/${done.id}/deliveries`, { headers: auth })).json());
    validate('WebhookSecretCreated', await (await fetch(`${stack.baseUrl}/v1/webhooks/secret`, { method: 'POST', headers: auth })).json());
    validate('HealthStatus', await (await fetch(`${stack.baseUrl}/readyz`)).json());
    validate('ErrorResponse', await (await fetch(`${stack.baseUrl}/v1/jobs/${done.id}`)).json());
    validate('ErrorResponse', await (await fetch(`${stack.baseUrl}/v1/jobs/00000000-0000-4000-8000-000000000000`, { headers: auth })).json());
    validate('ErrorResponse', await (await fetch(`${stack.baseUrl}/v1/jobs?limit=1000`, { headers: auth })).json());
  });

  it('documents the issue-17 result fields and form fields, and a result with them validates', async () => {
    const schemas = doc.components.schemas as Record<string, { properties: Record<string, { properties?: Record<string, unknown>; items?: { properties?: Record<string, unknown> } }> }>;
    const result = schemas.TranscriptResult.properties;
    for (const field of ['alternatives', 'warnings', 'face_track', 'faces', 'tracks']) expect(result).toHaveProperty(field);
    expect(Object.keys(result.segments.items!.properties!)).toEqual(expect.arrayContaining(['confidence', 'face']));
    expect(result.model.properties).toHaveProperty('demo');
    // ...and each says what it is in words (zod .describe() comes through as JSON Schema description)
    type Node = { description?: string; properties: Record<string, Node>; items: Node };
    const words = schemas.TranscriptResult as unknown as Node;
    const [segment, faceTrack, face, track, warning, alternative] = [
      words.properties.segments.items, words.properties.face_track, words.properties.faces.items, words.properties.tracks.items, words.properties.warnings.items, words.properties.alternatives.items,
    ];
    const described = [
      ...['alternatives', 'warnings', 'face_track', 'faces', 'tracks'].map((f) => words.properties[f]),
      segment.properties.confidence, segment.properties.face, words.properties.model.properties.demo,
      alternative, ...Object.values(alternative.properties), warning.properties.code, warning.properties.message,
      ...Object.values(faceTrack.properties), face, ...Object.values(face.properties), track, ...Object.values(track.properties),
    ];
    for (const node of described) expect(node.description).toMatch(/\w{3,}/);
    expect(segment.properties.confidence.description).toContain('not a calibrated probability');
    for (const box of [segment.properties.face, face.properties.box]) expect(box.description).toContain('source-video pixels');
    for (const code of WARNING_CODES) expect(warning.properties.code.description).toContain(`${code}: `);
    const post = (doc.paths['/v1/jobs'].post as unknown as { requestBody: { content: Record<string, { schema: { properties: Record<string, { description?: string }> } }> } }).requestBody;
    const form = post.content['multipart/form-data'].schema.properties;
    for (const field of ['alternatives', 'face']) expect(form[field].description).toBeTruthy();
    const resultRoute = doc.paths['/v1/jobs/{id}/result'].get as unknown as { parameters: Array<{ name: string; description: string }> };
    expect(resultRoute.parameters.map((p) => p.name)).toContain('face');

    const token = stack.token('alice');
    const created = await submit(stack.baseUrl, token, (await fixture('OPEN API')).file, { fields: { alternatives: '3' } });
    const done = await waitForJob(stack.baseUrl, token, created.body.id);
    validate('JobResource', done);
    expect(done.result!.alternatives!.length).toBeGreaterThanOrEqual(1);
    expect(done.result!.warnings!.map((w) => w.code)).toContain('demo_model');
    const auth = { authorization: `Bearer ${token}` };
    // no track 3 in a one-face result: the documented invalid_request
    const noFace = await fetch(`${stack.baseUrl}/v1/jobs/${done.id}/result?format=vtt&face=3`, { headers: auth });
    expect(noFace.status).toBe(400);
    validate('ErrorResponse', await noFace.json());
  });

  it('documents every schema it references', () => {
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/\w+/g) ?? [];
    for (const ref of new Set(refs)) expect(doc.components.schemas[ref.split('/').pop()!]).toBeDefined();
  });
});

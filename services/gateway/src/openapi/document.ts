import { z } from 'zod';
import {
  DeliveryAttempt,
  ErrorResponse,
  JobResource,
  JobStatus,
  SCOPES,
  TranscriptResult,
  UPLOAD_EXTENSIONS,
  WebhookEvent,
  type ErrorCode,
} from '@talkie/contracts';

/**
 * The OpenAPI 3.1 description of the API, generated from the same zod schemas the code validates
 * and answers with (JSON Schema 2020-12, which OpenAPI 3.1 uses as is). Routes are listed once
 * here; a test checks this list against the routes the app really serves.
 */

export const JobList = z.object({ data: z.array(JobResource), next_cursor: z.string().nullable() });
export const DeliveryList = z.object({ data: z.array(DeliveryAttempt) });
export const WebhookSecretCreated = z.object({ secret: z.string().regex(/^whsec_/), previous_secret_valid_for_s: z.number().int() });
export const HealthStatus = z.object({ status: z.string(), checks: z.record(z.string(), z.string()).optional(), versions: z.record(z.string(), z.string()).optional() });
/** `GET /v1/limits` (routes/limits.ts): what an upload may be, for clients that check before sending */
export const UploadLimits = z.object({
  max_upload_bytes: z.number().int().positive(),
  max_duration_s: z.number().positive(),
  max_frame_pixels: z.number().int().positive(),
  max_frames: z.number().int().positive(),
  extensions: z.array(z.string().regex(/^\.[a-z0-9]+$/)),
  /** LLM correction: whether a postprocess service with an LLM runs, and whether the caller's jobs get it when `correct` is absent */
  correction: z.object({ available: z.boolean(), by_default: z.boolean() }),
});

export const SCHEMAS = { JobResource, JobList, TranscriptResult, DeliveryAttempt, DeliveryList, WebhookSecretCreated, WebhookEvent, ErrorResponse, HealthStatus, UploadLimits };
type SchemaName = keyof typeof SCHEMAS;

interface Answer {
  description: string;
  schema?: SchemaName;
  /** non-JSON bodies (captions, event streams) */
  content?: Record<string, { schema: object }>;
  headers?: string[];
}

export interface RouteDoc {
  method: 'get' | 'post' | 'delete';
  path: string;
  summary: string;
  /** null: public (health, this document) */
  scope: (typeof SCOPES)[number] | null;
  parameters?: Array<{ name: string; in: 'path' | 'query' | 'header'; required?: boolean; schema: object; description: string }>;
  requestBody?: object;
  responses: Record<number, Answer>;
  errors?: ErrorCode[];
}

const idParam = { name: 'id', in: 'path' as const, required: true, schema: { type: 'string', format: 'uuid' }, description: 'Job id' };

export const ROUTES: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/jobs',
    summary: 'Submit a video for transcription',
    scope: 'jobs:write',
    parameters: [{ name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 255 }, description: 'Retries with the same key within 24 h return the original job.' }],
    requestBody: {
      required: true,
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            required: ['video'],
            properties: {
              video: { type: 'string', contentMediaType: 'video/*', description: `One file: ${UPLOAD_EXTENSIONS.join(' ')}` },
              webhook_url: { type: 'string', format: 'uri', description: 'https URL that receives the signed terminal event' },
              correct: {
                type: 'string',
                enum: ['true', 'false', '1', '0'],
                description:
                  "LLM correction of the transcript into readable text (result.corrected_text; the job's `correction` says how it went). " +
                  "Absent: the tenant's default (off unless the operator set CORRECTION_DEFAULT_TENANTS).",
              },
              alternatives: {
                type: 'string',
                pattern: '^([1-9]|10)$',
                description:
                  'Return up to this many (1–10) best hypotheses of the search as result.alternatives, best first, the first equal to result.text, ' +
                  'each with the search\'s own log score. Videos longer than one chunk (CHUNK_SECONDS), read in windows, get none.',
              },
              face: {
                type: 'string',
                pattern: '^(active|all|[0-3])$',
                description:
                  'Which face to read (models with roi.mode landmarks): active (default) the face whose mouth moves most, all one transcript per face track ' +
                  '(result.tracks), or a track index as listed in result.faces (a job whose video has no such track fails with face_not_found).',
              },
            },
          },
        },
      },
    },
    responses: { 202: { description: 'Queued', schema: 'JobResource', headers: ['Location'] }, 200: { description: 'Replayed for an Idempotency-Key', schema: 'JobResource' } },
    errors: ['invalid_request', 'missing_file', 'unsupported_media_type', 'payload_too_large', 'invalid_media', 'video_too_long', 'invalid_webhook_url', 'idempotency_conflict', 'too_many_jobs', 'rate_limited', 'queue_full'],
  },
  {
    method: 'get',
    path: '/v1/jobs',
    summary: "List the tenant's jobs, newest first",
    scope: 'jobs:read',
    parameters: [
      { name: 'status', in: 'query', schema: z.toJSONSchema(JobStatus), description: 'Only jobs in this state' },
      { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 }, description: 'Page size' },
      { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'next_cursor of the previous page' },
    ],
    responses: { 200: { description: 'A page of jobs', schema: 'JobList' } },
    errors: ['invalid_request'],
  },
  { method: 'get', path: '/v1/jobs/{id}', summary: 'Get a job', scope: 'jobs:read', parameters: [idParam], responses: { 200: { description: 'The job', schema: 'JobResource' } }, errors: ['not_found'] },
  {
    method: 'delete',
    path: '/v1/jobs/{id}',
    summary: 'Cancel a queued or processing job, or delete a finished one and its result',
    scope: 'jobs:write',
    parameters: [idParam],
    responses: { 200: { description: 'Canceled', schema: 'JobResource' }, 204: { description: 'Deleted' } },
    errors: ['not_found'],
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}/result',
    summary:
      'The transcript, as data or captions (txt, srt and vtt use the corrected text when there is one; vtt also carries each cue\'s confidence, ' +
      'its weakest word\'s, as a `NOTE confidence 0.87` block before the cue, and the warnings as a `NOTE warnings` block at the top, which players skip)',
    scope: 'jobs:read',
    parameters: [
      idParam,
      { name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'txt', 'srt', 'vtt'], default: 'json' }, description: 'Output format' },
      {
        name: 'face',
        in: 'query',
        schema: { type: 'string', pattern: '^[0-9]$' },
        description:
          'txt, srt, vtt: face track N\'s reading (a job submitted with face=all has one per track, in result.tracks); absent: the face the result read (result.face_track). ' +
          'A face the result has no reading of is invalid_request.',
      },
    ],
    responses: {
      200: {
        description: 'The transcript',
        schema: 'TranscriptResult',
        content: { 'text/plain': { schema: { type: 'string' } }, 'application/x-subrip': { schema: { type: 'string' } }, 'text/vtt': { schema: { type: 'string' } } },
      },
    },
    errors: ['not_found', 'result_not_ready', 'invalid_request'],
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}/events',
    summary: 'Server-Sent Events: `status` events with the job resource until it is terminal',
    scope: 'jobs:read',
    parameters: [idParam],
    responses: { 200: { description: 'An event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } } },
    errors: ['not_found'],
  },
  { method: 'get', path: '/v1/jobs/{id}/deliveries', summary: 'Webhook delivery attempts for a job', scope: 'jobs:read', parameters: [idParam], responses: { 200: { description: 'Attempts, oldest first', schema: 'DeliveryList' } }, errors: ['not_found'] },
  {
    method: 'post',
    path: '/v1/webhooks/secret',
    summary: "Create or rotate the tenant's webhook signing secret (returned once)",
    scope: 'jobs:write',
    responses: { 201: { description: 'The new secret', schema: 'WebhookSecretCreated' } },
  },
  {
    method: 'get',
    path: '/v1/limits',
    summary: 'Upload limits (size, duration, frame size and count, file types), so clients can check a file before sending it',
    scope: 'jobs:read',
    responses: { 200: { description: 'The limits this gateway enforces', schema: 'UploadLimits' } },
  },
  { method: 'get', path: '/healthz', summary: 'Liveness', scope: null, responses: { 200: { description: 'Alive', schema: 'HealthStatus' } } },
  { method: 'get', path: '/readyz', summary: 'Readiness: Redis and storage reachable', scope: null, responses: { 200: { description: 'Ready', schema: 'HealthStatus' }, 503: { description: 'Not ready', schema: 'HealthStatus' } } },
  { method: 'get', path: '/openapi.json', summary: 'This document', scope: null, responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } } },
];

const ref = (name: SchemaName) => ({ $ref: `#/components/schemas/${name}` });

function componentSchema(schema: z.ZodType): object {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

export function buildOpenApiDocument(version: string): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of ROUTES) {
    const responses: Record<string, object> = {};
    for (const [status, answer] of Object.entries(route.responses)) {
      const content: Record<string, object> = { ...(answer.schema ? { 'application/json': { schema: ref(answer.schema) } } : {}), ...(answer.content ?? {}) };
      responses[status] = {
        description: answer.description,
        ...(Object.keys(content).length ? { content } : {}),
        ...(answer.headers ? { headers: Object.fromEntries(answer.headers.map((h) => [h, { schema: { type: 'string' } }])) } : {}),
      };
    }
    if (route.scope) {
      responses['401'] = { description: 'Missing or invalid credentials (unauthorized); a signed token living longer than JWT_MAX_TTL_S or without iat (token_lifetime_exceeded), or revoked (token_revoked)', content: { 'application/json': { schema: ref('ErrorResponse') } } };
      responses['403'] = { description: `Credentials lack the ${route.scope} scope`, content: { 'application/json': { schema: ref('ErrorResponse') } } };
      responses['429'] = { description: 'Rate limited (see Retry-After)', content: { 'application/json': { schema: ref('ErrorResponse') } } };
    }
    responses.default = { description: `Error; codes: ${(route.errors ?? ['internal_error']).join(', ')}`, content: { 'application/json': { schema: ref('ErrorResponse') } } };
    paths[route.path] ??= {};
    paths[route.path][route.method] = {
      summary: route.summary,
      operationId: `${route.method}${route.path.replace(/[{}]/g, '').split(/[/.]/).map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('')}`,
      ...(route.scope ? { security: [{ bearer: [route.scope] }, { apiKey: [route.scope] }] } : { security: [] }),
      ...(route.parameters ? { parameters: route.parameters } : {}),
      ...(route.requestBody ? { requestBody: route.requestBody } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Talkie API',
      version,
      description: 'Lip reading as a service: submit a silent video, get a transcript by polling, Server-Sent Events or a signed webhook.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { apiKey: [] }],
    paths,
    webhooks: {
      jobTerminal: {
        post: {
          summary: 'Sent to a job\'s webhook_url when it completes, fails or is canceled; signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)',
          requestBody: { content: { 'application/json': { schema: ref('WebhookEvent') } } },
          responses: { 200: { description: 'Any 2xx acknowledges; 410 disables the endpoint; 5xx, 408 and 429 are retried' } },
        },
      },
    },
    components: {
      schemas: Object.fromEntries(Object.entries(SCHEMAS).map(([name, schema]) => [name, componentSchema(schema)])),
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `JWT with exp; scopes in the space-separated "scope" claim (${SCOPES.join(', ')})` },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
    },
  };
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OpenAI-compatible chat completions server on loopback (node:http), for the tests of LLM
 * correction (issue 8). Each request is recorded; `answer` decides what it gets: a completion with
 * some message content, another status, a delay first (a slow server), or nothing at all.
 */
export interface LlmRequest {
  /** 0, 1, 2… across the server's life */
  n: number;
  headers: Record<string, string | string[] | undefined>;
  path: string;
  body: {
    model?: string;
    messages?: Array<{ role: string; content: string }>;
    response_format?: { type: string; json_schema?: { name: string; strict?: boolean; schema: Record<string, unknown> } };
  };
  /** json_schema when the request asked for structured output, plain otherwise */
  mode: 'json_schema' | 'plain';
  /** the user message: the raw transcript (its `transcript` when the message is JSON with alternatives, issue 17) */
  transcript: string;
  /** the model's other readings, when the user message carried them (issue 17) */
  alternatives?: Array<{ text: string; score: number }>;
  /** how many requests this transcript has had before this one, in this mode */
  attempt: number;
}

/** `delayMs`: answer that much later (a slow server); `hold`: answer once it resolves. */
export type LlmAnswer =
  | { content: string; delayMs?: number; hold?: Promise<void> }
  | { status: number; body?: unknown; delayMs?: number; hold?: Promise<void> };

export interface LlmServer {
  baseURL: string;
  port: number;
  requests: LlmRequest[];
  answer: (req: LlmRequest) => LlmAnswer;
  /** requests for one transcript, oldest first */
  requestsFor(transcript: string): LlmRequest[];
  close(): Promise<void>;
}

type Change = { from: string; to: string };

/**
 * Answer shapes seen from real OpenAI-compatible servers and models, for `answer` functions: the
 * schema followed; the schema's `corrected_text` beside other key names (`list_of_changes`: a
 * server that does not enforce `strict`); JSON in a Markdown code fence; JSON after a sentence;
 * a `corrected_text` that is itself an encoded answer; JSON of another shape altogether; broken
 * JSON; plain text.
 */
export const ANSWERS = {
  schema: (corrected_text: string, changes: Change[] = []): LlmAnswer => ({ content: JSON.stringify({ corrected_text, changes }) }),
  otherKeys: (corrected_text: string, changes: Change[] = []): LlmAnswer => ({ content: JSON.stringify({ list_of_changes: changes, corrected_text }) }),
  fenced: (value: unknown): LlmAnswer => ({ content: `\`\`\`json\n${JSON.stringify(value, null, 2)}\n\`\`\`` }),
  afterPreamble: (value: unknown): LlmAnswer => ({ content: `Here is the corrected transcript:\n${JSON.stringify(value)}` }),
  doubleEncoded: (corrected_text: string): LlmAnswer => ({ content: JSON.stringify({ corrected_text: JSON.stringify({ corrected_text, changes: [] }), changes: [] }) }),
  json: (value: unknown): LlmAnswer => ({ content: JSON.stringify(value) }),
  broken: (corrected_text: string): LlmAnswer => ({ content: `{"corrected_text": "${corrected_text.slice(0, Math.ceil(corrected_text.length / 2))}` }),
  text: (content: string): LlmAnswer => ({ content }),
};

export const completion = (content: string, model = 'test-model') => ({
  id: 'chatcmpl-test',
  object: 'chat.completion',
  created: Math.floor(Date.now() / 1000),
  model,
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

/** The raw transcript, or the transcript and alternatives of a JSON user message (issue 17). */
function userMessage(content: string): Pick<LlmRequest, 'transcript' | 'alternatives'> {
  if (!content.startsWith('{')) return { transcript: content };
  try {
    const json = JSON.parse(content) as { transcript?: unknown; alternatives?: unknown };
    if (typeof json.transcript === 'string' && Array.isArray(json.alternatives)) return { transcript: json.transcript, alternatives: json.alternatives as LlmRequest['alternatives'] };
  } catch {
    // not JSON after all: the message is the transcript
  }
  return { transcript: content };
}

export async function startLlmServer(answer: LlmServer['answer'], port = 0): Promise<LlmServer> {
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: LlmRequest['body'] = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        // recorded as is; the answer function sees an empty body
      }
      const mode = body.response_format?.type === 'json_schema' ? 'json_schema' : 'plain';
      const { transcript, alternatives } = userMessage(body.messages?.find((m) => m.role === 'user')?.content ?? '');
      const attempt = llm.requests.filter((r) => r.transcript === transcript && r.mode === mode).length;
      const request: LlmRequest = { n: llm.requests.length, headers: req.headers, path: req.url ?? '', body, mode, transcript, attempt, ...(alternatives ? { alternatives } : {}) };
      llm.requests.push(request);
      const reply = llm.answer(request);
      const send = () => {
        if (res.destroyed) return; // the client gave up (its timeout)
        if ('content' in reply) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion(reply.content, body.model)));
        } else {
          res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body ?? { error: { message: `status ${reply.status}` } }));
        }
      };
      if (reply.hold) return void reply.hold.then(send);
      if (!reply.delayMs) return send();
      const timer = setTimeout(() => {
        timers.delete(timer);
        send();
      }, reply.delayMs);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  const llm: LlmServer = {
    baseURL: `http://127.0.0.1:${bound}/v1`,
    port: bound,
    requests: [],
    answer,
    requestsFor: (transcript) => llm.requests.filter((r) => r.transcript === transcript),
    close: () =>
      new Promise((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return llm;
}

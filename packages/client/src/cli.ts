#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FaceChoice, JOB_STATUSES, MAX_ALTERNATIVES, type JobResource, type JobStatus, type TranscriptResult } from '@talkie/contracts';
import { TalkieClient, VERSION, type ResultFormat } from './client';
import { TalkieApiError, TalkieConnectionError, TalkieTimeoutError } from './errors';

const USAGE = `Usage: talkie <command> [options]

Commands:
  submit FILE [--wait] [--format txt|json|srt|vtt] [--webhook URL] [--correct | --no-correct] [--idempotency-key KEY]
              [--alternatives N] [--face active|all|I] [--words]
                          upload a video; with --wait, print its transcript when done
  get ID                  print a job
  wait ID                 wait until a job is finished, then print it
  result ID [--format F] [--face I] [--words]
                          print a completed job's transcript (default: txt)
  cancel ID               cancel a queued or processing job, or delete a finished one
  list [--status S] [--limit N] [--cursor C] [--all]
                          list jobs, newest first
  deliveries ID           print a job's webhook delivery attempts
  webhook-secret          create or rotate the webhook signing secret (printed once)

Options:
  --url URL               API base URL (default: $TALKIE_URL or http://127.0.0.1:8080)
  --sse                   wait by following the job's event stream instead of polling
  --timeout SECONDS       give up waiting after this long
  --alternatives N        also read the N (1-10) best readings; --words prints them
  --face active|all|I     which face to read: the one whose mouth moves most (default), every
                          face, or face I as listed in the result's faces; with result: face I's
                          reading of a job submitted with --face all
  --words                 print each word with its time and confidence, then the other readings,
                          instead of the plain text (txt only)

A result's warnings (demo model, face barely found…) go to stderr as "talkie: warning CODE: …".
  -q, --quiet             no progress on stderr
  -h, --help              this help
  -v, --version           the client version

Credentials come from the environment only (never the command line, where \`ps\` shows them):
  TALKIE_TOKEN            a JWT, sent as a Bearer token
  TALKIE_API_KEY          an API key, sent as X-API-Key

Exit status: 0 on success, 1 when the API or the job failed (the error code is printed on
stderr), 2 on a usage error.`;

const OPTIONS = {
  url: { type: 'string' },
  wait: { type: 'boolean' },
  format: { type: 'string' },
  webhook: { type: 'string' },
  correct: { type: 'boolean' },
  'no-correct': { type: 'boolean' },
  'idempotency-key': { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  all: { type: 'boolean' },
  sse: { type: 'boolean' },
  timeout: { type: 'string' },
  alternatives: { type: 'string' },
  face: { type: 'string' },
  words: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const satisfies ParseArgsConfig['options'];

const FORMATS: readonly ResultFormat[] = ['json', 'txt', 'srt', 'vtt'];
const DEFAULT_URL = 'http://127.0.0.1:8080';

class UsageError extends Error {}

/** The `talkie` command. Returns the exit status; writes results to `out`, progress and errors to `err`. */
export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: { out: (text: string) => void; err: (text: string) => void; signal?: AbortSignal } = {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  },
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    io.err(`talkie: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.out(`${VERSION}\n`);
    return 0;
  }
  const [command, ...args] = positionals;
  if (values.help || !command) {
    (values.help ? io.out : io.err)(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }

  const baseUrl = values.url ?? env.TALKIE_URL ?? DEFAULT_URL;
  const client = new TalkieClient({
    baseUrl,
    ...(env.TALKIE_TOKEN ? { token: env.TALKIE_TOKEN } : env.TALKIE_API_KEY ? { apiKey: env.TALKIE_API_KEY } : {}),
  });
  const progress = (text: string) => {
    if (!values.quiet) io.err(`${text}\n`);
  };
  const json = (value: unknown) => io.out(`${JSON.stringify(value, null, 2)}\n`);
  const signal = io.signal;

  const one = (what: string): string => {
    if (args.length !== 1) throw new UsageError(`${command} takes one ${what}`);
    return args[0];
  };
  const format = (fallback: ResultFormat): ResultFormat => {
    const f = values.format ?? fallback;
    if (!(FORMATS as readonly string[]).includes(f)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}`);
    return f as ResultFormat;
  };
  const timeoutMs = (): number | undefined => {
    if (values.timeout === undefined) return undefined;
    const s = Number(values.timeout);
    if (!Number.isFinite(s) || s <= 0) throw new UsageError('--timeout must be a positive number of seconds');
    return s * 1000;
  };
  const alternatives = (): number | undefined => {
    if (values.alternatives === undefined) return undefined;
    const n = Number(values.alternatives);
    if (!/^\d+$/.test(values.alternatives) || n < 1 || n > MAX_ALTERNATIVES) throw new UsageError(`--alternatives must be an integer from 1 to ${MAX_ALTERNATIVES}`);
    return n;
  };
  const face = (): FaceChoice | undefined => {
    if (values.face === undefined) return undefined;
    const choice = FaceChoice.safeParse(/^\d+$/.test(values.face) ? Number(values.face) : values.face);
    if (!choice.success) throw new UsageError('--face must be active, all, or a face track index (0-3)');
    return choice.data;
  };
  /** --words prints the transcript its own way: only where the output would be text */
  const checkWords = (f: ResultFormat | undefined) => {
    if (values.words && f !== 'txt') throw new UsageError('--words prints text: drop --format, or use --format txt');
  };
  const waitFor = async (id: string): Promise<JobResource> => {
    const job = await client.wait(id, {
      mode: values.sse ? 'sse' : 'poll',
      timeoutMs: timeoutMs(),
      signal,
      onProgress: (j) => progress(`job ${j.id}: ${j.status}${j.status === 'processing' ? ` ${j.progress}%` : ''}`),
    });
    return job;
  };
  /** a failed or canceled job: its code on stderr, exit 1 */
  const jobFailed = (job: JobResource): number => {
    const code = job.status === 'canceled' ? 'canceled' : (job.error?.code ?? 'failed');
    io.err(`talkie: job ${job.id} ${job.status}: ${code}${job.error ? `: ${job.error.message}` : ''}\n`);
    return 1;
  };

  try {
    switch (command) {
      case 'submit': {
        const file = one('file');
        const outputFormat = values.wait ? format('txt') : undefined;
        if (!values.wait && values.format !== undefined) throw new UsageError('--format needs --wait');
        if (values.correct && values['no-correct']) throw new UsageError('give --correct or --no-correct, not both');
        const correct = values.correct ? true : values['no-correct'] ? false : undefined;
        if (values.words && !values.wait) throw new UsageError('--words needs --wait');
        checkWords(outputFormat);
        const job = await client.submit(file, { webhookUrl: values.webhook, idempotencyKey: values['idempotency-key'], correct, alternatives: alternatives(), face: face(), signal });
        progress(`job ${job.id}: submitted`);
        if (!values.wait) {
          json(job);
          return 0;
        }
        const done = await waitFor(job.id);
        if (done.status !== 'completed') return jobFailed(done);
        if (values.words) return printWords(await client.result(done.id, 'json', { signal }));
        printWarnings(done.result);
        await printResult(done.id, outputFormat!);
        return 0;
      }
      case 'get':
        json(await client.get(one('job id'), { signal }));
        return 0;
      case 'wait': {
        const done = await waitFor(one('job id'));
        json(done);
        return done.status === 'completed' ? 0 : jobFailed(done);
      }
      case 'result': {
        const id = one('job id');
        const f = format('txt');
        checkWords(f);
        const track = face();
        if (typeof track === 'string') throw new UsageError('with result, --face takes a face track index');
        if (values.words) return printWords(await client.result(id, 'json', { signal }), track);
        await printResult(id, f, track);
        return 0;
      }
      case 'cancel': {
        const id = one('job id');
        const job = await client.cancel(id, { signal });
        if (job) json(job);
        else progress(`job ${id}: deleted`);
        return 0;
      }
      case 'list': {
        if (args.length) throw new UsageError('list takes no arguments');
        if (values.status !== undefined && !(JOB_STATUSES as readonly string[]).includes(values.status)) {
          throw new UsageError(`--status must be one of ${JOB_STATUSES.join(', ')}`);
        }
        const limit = values.limit === undefined ? undefined : Number(values.limit);
        if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 100)) throw new UsageError('--limit must be an integer from 1 to 100');
        const status = values.status as JobStatus | undefined;
        if (values.all) {
          if (values.cursor !== undefined) throw new UsageError('--all starts from the first page: drop --cursor');
          const data: JobResource[] = [];
          for await (const job of client.listAll({ status, limit, signal })) data.push(job);
          json({ data, next_cursor: null });
        } else {
          json(await client.list({ status, limit, cursor: values.cursor, signal }));
        }
        return 0;
      }
      case 'deliveries':
        json({ data: await client.deliveries(one('job id'), { signal }) });
        return 0;
      case 'webhook-secret':
        if (args.length) throw new UsageError('webhook-secret takes no arguments');
        json(await client.rotateWebhookSecret({ signal }));
        return 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`talkie: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof TalkieApiError) {
      io.err(`talkie: error ${err.code} (HTTP ${err.status}): ${err.message}${err.requestId ? ` [request ${err.requestId}]` : ''}${err.retryAfterS !== undefined ? ` (retry after ${err.retryAfterS} s)` : ''}\n`);
      return 1;
    }
    if (err instanceof TalkieConnectionError) {
      // the usual cause: the gateway runs elsewhere (another PORT) than where the CLI looked
      const from = values.url !== undefined ? '--url' : env.TALKIE_URL !== undefined ? 'TALKIE_URL' : 'the default';
      io.err(`talkie: error ${err.code}: ${err.message}\n  No gateway answered at ${baseUrl} (${from}). Give its URL with --url or TALKIE_URL (npm start prints it).\n`);
      return 1;
    }
    if (err instanceof TalkieTimeoutError) {
      io.err(`talkie: error ${err.code}: ${err.message}\n`);
      return 1;
    }
    if (err instanceof TypeError && /file name must end|needs options\.filename/.test(err.message)) {
      io.err(`talkie: error unsupported_media_type: ${err.message}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'ENOENT' || e?.code === 'EACCES' || e?.code === 'EISDIR') {
      io.err(`talkie: error ${e.code.toLowerCase()}: cannot read ${e.path ?? 'the file'}\n`);
      return 1;
    }
    if (signal?.aborted) {
      io.err('talkie: interrupted\n');
      return 130;
    }
    io.err(`talkie: error internal: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }

  async function printResult(id: string, f: ResultFormat, track?: number): Promise<void> {
    if (f === 'json') json(await client.result(id, 'json', { signal, face: track }));
    else {
      const text = await client.result(id, f, { signal, face: track });
      io.out(text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  /** Issue 17: what the result says to tell the user, on stderr (stdout stays the transcript). */
  function printWarnings(result: TranscriptResult | undefined): void {
    for (const w of result?.warnings ?? []) io.err(`talkie: warning ${w.code}: ${w.message}\n`);
  }

  /**
   * Issue 17, --words: one line per word (start, end, confidence, word), then the other readings
   * with their scores. Face `track` (a face=all result): that face's words.
   */
  function printWords(result: TranscriptResult, track?: number): number {
    printWarnings(result);
    const reading = track === undefined || result.face_track?.index === track ? result : result.tracks?.find((t) => t.face === track);
    if (!reading) {
      io.err(`talkie: error invalid_request: the result has no reading of face ${track} (submit with --face all)\n`);
      return 1;
    }
    const seconds = (s: number) => s.toFixed(2).padStart(7);
    for (const w of reading.segments) io.out(`${seconds(w.start)} ${seconds(w.end)}  ${w.confidence === undefined ? '   - ' : w.confidence.toFixed(2)}  ${w.text}\n`);
    const others = reading === result ? (result.alternatives ?? []).slice(1) : [];
    if (others.length) {
      io.out('\nother readings (log score):\n');
      for (const a of others) io.out(`${a.score.toFixed(2).padStart(8)}  ${a.text}\n`);
    }
    return 0;
  }
}

if (require.main === module) {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort(new Error('interrupted')));
  main(process.argv.slice(2), process.env, {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    signal: controller.signal,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`talkie: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

import { Router, type Request, type Response } from 'express';
import { isTerminal, type DeliveryAttempt } from '@talkie/contracts';
import { toJobResource, type JobStore } from '@talkie/queue';
import { requireScope } from '../auth/authenticate';
import { sendError } from '../http/errors';
import { captionSegments, faceReading, toSrt, toVtt } from '../results/captions';
import { findOwnJob } from './own-job';

export interface JobOutputDeps {
  store: JobStore;
  deliveries: { list(jobId: string): Promise<DeliveryAttempt[]> };
  /** how often an SSE stream looks for changes, and sends a keep-alive comment */
  eventsPollMs?: number;
  eventsHeartbeatMs?: number;
}

const FORMATS = {
  json: 'application/json; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  srt: 'application/x-subrip; charset=utf-8',
  vtt: 'text/vtt; charset=utf-8',
} as const;
type Format = keyof typeof FORMATS;

/** What a job produced: its transcript in several formats, a live event stream, webhook attempts. */
export function jobOutputRoutes(deps: JobOutputDeps): Router {
  const router = Router();

  router.get('/:id/result', requireScope('jobs:read'), async (req: Request<{ id: string }>, res: Response) => {
    const format = (typeof req.query.format === 'string' ? req.query.format : 'json') as Format;
    if (!(format in FORMATS)) return sendError(req, res, 'invalid_request', 'format must be one of json, txt, srt, vtt.');
    const record = await findOwnJob(deps.store, req);
    if (!record) return sendError(req, res, 'not_found');
    if (record.status !== 'completed' || !record.result) return sendError(req, res, 'result_not_ready');
    const { result } = record;
    // Issue 17: `face=<i>` picks one face's reading of a face=all result for txt, srt and vtt (json has them all, in `tracks`)
    const face = req.query.face === undefined ? undefined : typeof req.query.face === 'string' && /^[0-9]$/.test(req.query.face) ? Number(req.query.face) : NaN;
    if (Number.isNaN(face)) return sendError(req, res, 'invalid_request', 'face must be a face track index, as listed in result.faces.');
    const reading = face === undefined ? result : faceReading(result, face);
    if (!reading) return sendError(req, res, 'invalid_request', `This result has no reading of face ${face}: submit with face=all (or face=${face}) for one.`);
    res.type(FORMATS[format]);
    if (format !== 'json') res.setHeader('Content-Disposition', `attachment; filename="${record.id}${face === undefined ? '' : `.face-${face}`}.${format}"`);
    if (format === 'json') return void res.json(result);
    // Readable forms use the LLM-corrected text when there is one (issue 8); json carries both.
    if (format === 'txt') return void res.send(`${reading.corrected_text ?? reading.text}\n`);
    const segments = captionSegments(reading);
    res.send(format === 'srt' ? toSrt(segments) : toVtt(segments, { warnings: result.warnings }));
  });

  /**
   * Server-Sent Events: a `status` event whenever the status or progress changes, the first one at
   * once, closing after the terminal one. Polls the job record (one HGETALL) rather than holding a
   * Redis subscription per client.
   */
  router.get('/:id/events', requireScope('jobs:read'), async (req: Request<{ id: string }>, res: Response) => {
    const first = await findOwnJob(deps.store, req);
    if (!first) return sendError(req, res, 'not_found');
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no', // nginx: do not buffer the stream
    });
    let last = '';
    let closed = false;
    let sequence = 0;
    let poll: NodeJS.Timeout | undefined;
    let heartbeat: NodeJS.Timeout | undefined;
    const send = (resource: ReturnType<typeof toJobResource>) => {
      const key = `${resource.status}:${resource.progress}`;
      if (key === last) return;
      last = key;
      res.write(`id: ${++sequence}\nevent: status\ndata: ${JSON.stringify(resource)}\n\n`);
    };
    const finish = () => {
      if (closed) return;
      closed = true;
      clearInterval(poll);
      clearInterval(heartbeat);
      res.end();
    };
    req.on('close', finish);
    send(toJobResource(first));
    if (isTerminal(first.status)) return finish();
    poll = setInterval(() => {
      deps.store.get(first.id).then(
        (record) => {
          if (closed) return;
          if (!record) return finish(); // deleted meanwhile
          send(toJobResource(record));
          if (isTerminal(record.status)) finish();
        },
        () => finish(),
      );
    }, deps.eventsPollMs ?? 250);
    heartbeat = setInterval(() => res.write(': keep-alive\n\n'), deps.eventsHeartbeatMs ?? 15_000);
  });

  router.get('/:id/deliveries', requireScope('jobs:read'), async (req: Request<{ id: string }>, res: Response) => {
    const record = await findOwnJob(deps.store, req);
    if (!record) return sendError(req, res, 'not_found');
    res.json({ data: await deps.deliveries.list(record.id) });
  });

  return router;
}

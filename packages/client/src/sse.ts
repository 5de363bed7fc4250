/**
 * A Server-Sent Events parser, per the WHATWG HTML "event stream interpretation" rules: lines end
 * with CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of the next are one line
 * end); `:` starts a comment; `data` lines are joined with LF; a blank line dispatches the event;
 * an event still being built when the stream ends is dropped.
 */

export interface SseEvent {
  /** the `event` field, `message` when absent */
  event: string;
  data: string;
  /** the last event id seen on the stream (it persists across events, as the spec says) */
  id?: string;
  /** a `retry` field (reconnection time in ms), when this event carried one */
  retry?: number;
}

export class SseParser {
  private buffer = '';
  /** the previous chunk ended with CR: an LF at the start of the next one belongs to that line end */
  private pendingCr = false;
  private firstLine = true;
  private data: string[] = [];
  private hasData = false;
  private eventType = '';
  private lastEventId: string | undefined;
  private retry: number | undefined;

  constructor(private readonly onEvent: (event: SseEvent) => void) {}

  /** Feeds decoded text; calls `onEvent` for each complete event. */
  feed(text: string): void {
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 < this.buffer.length) next = this.buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
        else {
          // CR at the very end: the line is complete, but an LF may follow in the next chunk
          next = cr + 1;
          this.pendingCr = true;
        }
      } else {
        end = lf;
        next = lf + 1;
      }
      this.line(this.buffer.slice(start, end));
      start = next;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (this.firstLine) {
      this.firstLine = false;
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    }
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return; // comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
      // unknown fields are ignored
    }
  }

  private dispatch(): void {
    const retry = this.retry;
    this.retry = undefined;
    if (!this.hasData) {
      this.eventType = '';
      return;
    }
    const event: SseEvent = { event: this.eventType || 'message', data: this.data.join('\n') };
    if (this.lastEventId !== undefined) event.id = this.lastEventId;
    if (retry !== undefined) event.retry = retry;
    this.data = [];
    this.hasData = false;
    this.eventType = '';
    this.onEvent(event);
  }
}

/** Reads an event stream (a fetch body) to its end, yielding each event as it completes. */
export async function* readSse(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<SseEvent> {
  const queue: SseEvent[] = [];
  const parser = new SseParser((event) => queue.push(event));
  const decoder = new TextDecoder('utf-8');
  const reader = body.getReader();
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) {
        signal?.throwIfAborted();
        parser.feed(decoder.decode());
        yield* queue.splice(0);
        return;
      }
      parser.feed(decoder.decode(value, { stream: true }));
      yield* queue.splice(0);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // stops the download when the consumer leaves early (break, return, throw)
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

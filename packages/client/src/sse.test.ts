import { readSse, SseParser, type SseEvent } from './sse';

const parse = (chunks: string[]): SseEvent[] => {
  const events: SseEvent[] = [];
  const parser = new SseParser((e) => events.push(e));
  for (const chunk of chunks) parser.feed(chunk);
  return events;
};

/** Every way of cutting `text` in two, plus one chunk per character. */
const splits = (text: string): string[][] => [[text], ...Array.from({ length: text.length - 1 }, (_, i) => [text.slice(0, i + 1), text.slice(i + 1)]), [...text]];

const STREAM =
  ': keep-alive\n\n' +
  'id: 1\nevent: status\ndata: {"status":"queued","progress":0}\n\n' +
  'id: 2\r\nevent: status\r\ndata: {"status":"processing",\r\ndata: "progress":50}\r\n\r\n' +
  'id: 3\revent: status\rdata: {"status":"completed"}\r\r';

const EXPECTED: SseEvent[] = [
  { event: 'status', data: '{"status":"queued","progress":0}', id: '1' },
  { event: 'status', data: '{"status":"processing",\n"progress":50}', id: '2' },
  { event: 'status', data: '{"status":"completed"}', id: '3' },
];

describe('SseParser', () => {
  it('reads events whatever the line endings (LF, CRLF, CR) and wherever the chunks are cut', () => {
    for (const chunks of splits(STREAM)) expect(parse(chunks)).toEqual(EXPECTED);
  });

  it('treats a CR at the end of a chunk and an LF at the start of the next as one line end', () => {
    expect(parse(['data: a\r', '\n', '\r', '\ndata: b\n\n'])).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
    ]);
  });

  it('defaults the event type to "message" and resets it after each event', () => {
    expect(parse(['event: status\ndata: x\n\ndata: y\n\n'])).toEqual([
      { event: 'status', data: 'x' },
      { event: 'message', data: 'y' },
    ]);
  });

  it('ignores comments, unknown fields and blocks without data', () => {
    expect(parse([':hello\nfoo: bar\n\nevent: status\n\n: ping\n\ndata: z\n\n'])).toEqual([{ event: 'message', data: 'z' }]);
  });

  it('strips one leading space only, and reads a field without a colon as empty', () => {
    expect(parse(['data:  two spaces\ndata\ndata:no-space\n\n'])).toEqual([{ event: 'message', data: ' two spaces\n\nno-space' }]);
  });

  it('keeps the last event id across events, and reads retry', () => {
    expect(parse(['id: 7\ndata: a\n\nretry: 1500\ndata: b\n\nretry: soon\ndata: c\n\n'])).toEqual([
      { event: 'message', data: 'a', id: '7' },
      { event: 'message', data: 'b', id: '7', retry: 1500 },
      { event: 'message', data: 'c', id: '7' },
    ]);
  });

  it('drops a leading BOM, and an event that the stream never finished', () => {
    expect(parse(['\ufeffdata: a\n\ndata: unfinished\n'])).toEqual([{ event: 'message', data: 'a' }]);
  });

  it('keeps multi-byte characters intact', () => {
    expect(parse(['data: "ÉTÉ – 夏"\n\n'])).toEqual([{ event: 'message', data: '"ÉTÉ – 夏"' }]);
  });
});

describe('readSse', () => {
  const streamOf = (parts: Uint8Array[]) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const p of parts) controller.enqueue(p);
        controller.close();
      },
    });

  it('decodes UTF-8 split across chunks and yields each event', async () => {
    const bytes = Buffer.from('event: status\ndata: {"text":"ÉTÉ"}\n\ndata: last\n\n');
    // cut inside the two-byte "É"
    const cut = bytes.indexOf(0xc3) + 1;
    const events: SseEvent[] = [];
    for await (const e of readSse(streamOf([bytes.subarray(0, cut), bytes.subarray(cut)]))) events.push(e);
    expect(events).toEqual([
      { event: 'status', data: '{"text":"ÉTÉ"}' },
      { event: 'message', data: 'last' },
    ]);
  });

  it('cancels the stream when the reader stops early', async () => {
    let canceled = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(Buffer.from('data: 1\n\n'));
      },
      cancel() {
        canceled = true;
      },
    });
    for await (const e of readSse(body)) {
      expect(e.data).toBe('1');
      break;
    }
    expect(canceled).toBe(true);
  });

  it('stops with the abort reason when the signal aborts', async () => {
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(Buffer.from('data: 1\n\n'));
      },
    });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const e of readSse(body, controller.signal)) {
          seen.push(e.data);
          controller.abort(new Error('stop'));
        }
      })(),
    ).rejects.toThrow('stop');
    expect(seen).toEqual(['1']);
  });
});

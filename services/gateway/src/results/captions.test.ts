import { captionSegments, toCues, toSrt, toVtt } from './captions';

const words = (list: Array<[string, number, number]>) => list.map(([text, start, end]) => ({ text, start, end }));

describe('captionSegments', () => {
  const RAW = [{ start: 0.4, end: 0.9, text: 'HELLO' }, { start: 2.32, end: 2.82, text: 'WORLD' }];
  it('captions the corrected text when there is one, the raw one otherwise', () => {
    const corrected = [{ start: 0.4, end: 0.9, text: 'Hello,' }, { start: 2.32, end: 2.82, text: 'world.' }];
    expect(toSrt(captionSegments({ segments: RAW, corrected_segments: corrected }))).toBe('1\n00:00:00,400 --> 00:00:00,900\nHello,\n\n2\n00:00:02,320 --> 00:00:02,820\nworld.\n');
    expect(captionSegments({ segments: RAW })).toBe(RAW);
    expect(captionSegments({ segments: [], corrected_segments: [] })).toEqual([]);
  });
});

describe('captions', () => {
  it('groups words into cues, breaking on pauses and line length', () => {
    const cues = toCues(words([['HELLO', 0.4, 0.8], ['WORLD', 0.9, 1.3], ['AGAIN', 3.0, 3.4]]));
    expect(cues).toEqual([
      { start: 0.4, end: 1.3, text: 'HELLO WORLD' },
      { start: 3.0, end: 3.4, text: 'AGAIN' },
    ]);
    const long = toCues(words(Array.from({ length: 12 }, (_, i) => [`WORD${i}`, i * 0.3, i * 0.3 + 0.2] as [string, number, number])));
    expect(long.every((c) => c.text.length <= 42)).toBe(true);
    expect(long.map((c) => c.text).join(' ')).toBe(Array.from({ length: 12 }, (_, i) => `WORD${i}`).join(' '));
  });

  it('writes SRT with comma milliseconds and numbered cues', () => {
    expect(toSrt(words([['HELLO', 0.4, 1.88], ['AGAIN', 3661.5, 3662]]))).toBe(
      '1\n00:00:00,400 --> 00:00:01,880\nHELLO\n\n2\n01:01:01,500 --> 01:01:02,000\nAGAIN\n',
    );
  });

  it('writes WebVTT with its header and dot milliseconds', () => {
    expect(toVtt(words([['HI', 0, 0.25]]))).toBe('WEBVTT\n\n00:00:00.000 --> 00:00:00.250\nHI\n');
    expect(toVtt([])).toBe('WEBVTT\n\n');
  });
});

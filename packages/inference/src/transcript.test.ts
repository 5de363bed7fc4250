import type { LabelSpan } from './ctc';
import { segmentsToText, spansToSegments, type TokenSpec } from './transcript';

const span = (label: number, start: number, end = start): LabelSpan => ({ label, start, end });

describe('spansToSegments with a "|" word separator token', () => {
  // indices:                 0         1    2    3    4    5    6     7
  const spec: TokenSpec = { tokens: ['<blank>', '|', 'H', 'I', 'Y', 'O', 'U', "'"], wordDelimiter: '|' };
  const [SEP, H, I, Y, O, U] = [1, 2, 3, 4, 5, 6];

  it('joins letters into words split at the separator, timed from the first to the last letter', () => {
    const spans = [span(H, 2, 3), span(I, 5), span(SEP, 7), span(Y, 10, 11), span(O, 12), span(U, 14, 16)];
    // 25 fps: 0.04 s per step; a word ends after its last frame
    expect(spansToSegments(spans, spec, 0.04)).toEqual([
      { start: 0.08, end: 0.24, text: 'HI' },
      { start: 0.4, end: 0.68, text: 'YOU' },
    ]);
  });

  it('ends the last word at the end of the spans, with no trailing separator', () => {
    expect(spansToSegments([span(H, 0), span(I, 1, 4)], spec, 0.04)).toEqual([{ start: 0, end: 0.2, text: 'HI' }]);
  });

  it('makes no empty words from leading, trailing or doubled separators', () => {
    const spans = [span(SEP, 0), span(H, 1), span(SEP, 2), span(SEP, 3), span(I, 4), span(SEP, 5)];
    expect(spansToSegments(spans, spec, 0.1)).toEqual([
      { start: 0.1, end: 0.2, text: 'H' },
      { start: 0.4, end: 0.5, text: 'I' },
    ]);
  });

  it('keeps apostrophes inside a word', () => {
    expect(spansToSegments([span(I, 0), span(7, 1), span(H, 2)], spec, 0.04).map((s) => s.text)).toEqual(["I'H"]);
  });

  it('scales timings by secondsPerStep (e.g. a model that halves the frame rate) and rounds to milliseconds', () => {
    // 30 fps with 2× temporal downsampling: 1/15 s per step
    expect(spansToSegments([span(H, 1), span(I, 2)], spec, 1 / 15)).toEqual([{ start: 0.067, end: 0.2, text: 'HI' }]);
  });

  it('returns no segments for no spans', () => {
    expect(spansToSegments([], spec, 0.04)).toEqual([]);
  });

  it('skips labels outside the token list instead of printing "undefined"', () => {
    expect(spansToSegments([span(H, 0), span(99, 1), span(I, 2)], spec, 0.04)).toEqual([{ start: 0, end: 0.12, text: 'HI' }]);
  });
});

describe('spansToSegments with SentencePiece "▁" word-start pieces', () => {
  // indices:                 0          1       2       3    4     5      6
  const spec: TokenSpec = { tokens: ['<blank>', '▁THE', '▁CAT', 'S', '▁', 'SAT', '▁ON'], wordDelimiter: '▁' };
  const [THE, CAT, S, SPACE, SAT, ON] = [1, 2, 3, 4, 5, 6];

  it('starts a new word at each "▁" piece and appends the pieces without one', () => {
    const spans = [span(THE, 0, 2), span(CAT, 4, 6), span(S, 7), span(ON, 9, 10)];
    expect(spansToSegments(spans, spec, 0.04)).toEqual([
      { start: 0, end: 0.12, text: 'THE' },
      { start: 0.16, end: 0.32, text: 'CATS' },
      { start: 0.36, end: 0.44, text: 'ON' },
    ]);
  });

  it('treats a bare "▁" piece as a word start: the next piece begins the word and its time', () => {
    const spans = [span(THE, 0), span(SPACE, 2), span(SAT, 3, 5)];
    expect(spansToSegments(spans, spec, 0.04)).toEqual([
      { start: 0, end: 0.04, text: 'THE' },
      { start: 0.12, end: 0.24, text: 'SAT' },
    ]);
  });

  it('keeps a word-internal piece at the start of the sequence as its own word', () => {
    expect(spansToSegments([span(S, 0), span(THE, 1)], spec, 0.04).map((s) => s.text)).toEqual(['S', 'THE']);
  });
});

describe('segmentsToText', () => {
  it('joins the words with single spaces', () => {
    expect(
      segmentsToText([
        { start: 0, end: 0.1, text: 'THE' },
        { start: 0.2, end: 0.3, text: 'CATS' },
      ]),
    ).toBe('THE CATS');
  });

  it('gives an empty string for no words', () => {
    expect(segmentsToText([])).toBe('');
  });

  it('reads back the words of spansToSegments', () => {
    const spec: TokenSpec = { tokens: ['-', '|', 'A', 'B'], wordDelimiter: '|' };
    expect(segmentsToText(spansToSegments([span(2, 0), span(3, 1), span(1, 2), span(3, 3)], spec, 0.04))).toBe('AB B');
  });
});

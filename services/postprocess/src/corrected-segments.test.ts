import fc from 'fast-check';
import type { Segment } from '@talkie/contracts';
import { correctedSegments } from './corrected-segments';

const seg = (text: string, start: number): Segment => ({ start, end: start + 0.5, text });
const RAW = [seg('HELLO', 0.4), seg('WORLD', 2.32)];

describe('correctedSegments', () => {
  it('puts each corrected word on the raw word it corrects (case and punctuation aside)', () => {
    expect(correctedSegments(RAW, 'Hello, world.')).toEqual([
      { start: 0.4, end: 0.9, text: 'Hello,' },
      { start: 2.32, end: 2.82, text: 'world.' },
    ]);
  });

  it('keeps a fixed word in place, attaches added words to their neighbour, and drops removed ones', () => {
    const raw = [seg('I', 0), seg('SCREAM', 1), seg('FOR', 2), seg('ICE', 3), seg('CREAM', 4), seg('UM', 5)];
    expect(correctedSegments(raw, 'Oh, I scream for ice cream!').map((s) => [s.start, s.text])).toEqual([
      [0, 'Oh, I'],
      [1, 'scream'],
      [2, 'for'],
      [3, 'ice'],
      [4, 'cream!'],
    ]);
    expect(correctedSegments([seg('THE', 0), seg('CAT', 1)], 'The hat.').map((s) => s.text)).toEqual(['The', 'hat.']);
    expect(correctedSegments([seg('GO', 0)], 'Go now, please.').map((s) => s.text)).toEqual(['Go now, please.']);
    // nothing was timed, so no word can be placed
    expect(correctedSegments([], 'Hi.')).toEqual([]);
  });

  it('loses no word and keeps their order, whatever the LLM wrote', () => {
    const word = fc.stringMatching(/^[A-Za-z',.!?]{1,8}$/);
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 12 }), fc.array(word, { minLength: 1, maxLength: 15 }), (raw, fixed) => {
        const segments = raw.map((w, i) => seg(w.toUpperCase(), i));
        const out = correctedSegments(segments, fixed.join('  '));
        expect(out.map((s) => s.text).join(' ')).toBe(fixed.join(' '));
        for (let k = 1; k < out.length; k++) expect(out[k].start).toBeGreaterThan(out[k - 1].start);
      }),
    );
  });
});

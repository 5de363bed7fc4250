import { isControlToken, tokensFromUnits, withoutControlTokens, WORD_START } from './sentencepiece';
import { spansToSegments } from './transcript';

describe('SentencePiece token lists', () => {
  it('builds the Auto-AVSR token list from a units file: blank, the units at their ids, eos last', () => {
    const units = ['<unk> 1', "' 2", '▁ 3', '▁THE 4', 'ING 5', '▁READ 6', ''].join('\n');
    expect(tokensFromUnits(units)).toEqual(['<blank>', '<unk>', "'", '▁', '▁THE', 'ING', '▁READ', '<eos>']);
    expect(tokensFromUnits('a 1\r\nb 2\r\n', { eos: '<sos/eos>' })).toEqual(['<blank>', 'a', 'b', '<sos/eos>']);
  });

  it('refuses a units file whose ids skip or repeat, which would shift every token', () => {
    expect(() => tokensFromUnits('<unk> 1\n▁A 3\n')).toThrow(/units line 2: expected "<unit> 2"/);
    expect(() => tokensFromUnits('<unk> 1\n▁A 1\n')).toThrow(/units line 2/);
  });

  it('tells control symbols from text pieces', () => {
    for (const t of ['<unk>', '<eos>', '<sos/eos>', '<blank>']) expect(isControlToken(t)).toBe(true);
    for (const t of ['▁', '▁THE', "'", 'ING', '<', '▁<unk>']) expect(isControlToken(t)).toBe(false);
  });

  it('reads word starts from ▁ pieces and leaves <unk> out of the words and their timings', () => {
    const tokens = ['<blank>', '<unk>', '▁', '▁READ', 'ING', '▁MY', '▁LIPS', '<eos>'];
    const spans = [
      { label: 3, start: 0, end: 1 },
      { label: 4, start: 2, end: 2 },
      { label: 1, start: 4, end: 4 },
      { label: 5, start: 6, end: 6 },
      { label: 2, start: 8, end: 8 },
      { label: 6, start: 9, end: 10 },
    ];
    const segments = spansToSegments(withoutControlTokens(spans, tokens), { tokens, wordDelimiter: WORD_START }, 0.04);
    expect(segments).toEqual([
      { start: 0, end: 0.12, text: 'READING' },
      { start: 0.24, end: 0.28, text: 'MY' },
      { start: 0.36, end: 0.44, text: 'LIPS' },
    ]);
  });
});

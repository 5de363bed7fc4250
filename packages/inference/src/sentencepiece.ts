import type { LabelSpan } from './ctc';

/**
 * SentencePiece-style token lists, as the Auto-AVSR family ships them: `<blank>` first, then the
 * units of the SentencePiece model (`<unk>`, `▁` alone, word starts such as `▁THE`, word pieces such
 * as `ING`), then `<eos>` (ESPnet's `<sos/eos>`, one token for both) last.
 */

/** SentencePiece's word-start mark, U+2581. */
export const WORD_START = '\u2581';

/** Control symbols such as `<unk>`, `<eos>`, `<sos/eos>`: tokens of the model, never text. */
export const isControlToken = (token: string): boolean => /^<[^<>\s]+>$/.test(token);

/**
 * The token list of an ESPnet-style units file (`<unit> <id>` per line, ids from 1, as Auto-AVSR's
 * `unigram5000_units.txt`): blank at 0, the units at their ids, `eos` last. Ids must run 1…n with
 * no gap, so the list lines up with the model's output classes.
 */
export function tokensFromUnits(text: string, names: { blank?: string; eos?: string } = {}): string[] {
  const tokens = [names.blank ?? '<blank>'];
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  lines.forEach((line, i) => {
    const fields = line.trim().split(/\s+/);
    const id = fields.length > 1 ? Number(fields[fields.length - 1]) : i + 1;
    if (fields.length > 2 || id !== i + 1) throw new Error(`units line ${i + 1}: expected "<unit> ${i + 1}", got ${JSON.stringify(line)}`);
    tokens.push(fields[0]);
  });
  tokens.push(names.eos ?? '<eos>');
  return tokens;
}

/** Aligned spans without control symbols, so `<unk>` or an end mark never reaches a transcript. */
export const withoutControlTokens = (spans: LabelSpan[], tokens: readonly string[]): LabelSpan[] =>
  spans.filter((span) => !isControlToken(tokens[span.label] ?? ''));

import type { Segment } from '@talkie/contracts';
import type { LabelSpan } from './ctc';

export interface TokenSpec {
  tokens: readonly string[];
  /** `|`-style separator token, or `▁`-style word-start prefix */
  wordDelimiter: string;
}

/**
 * Turns aligned labels into words with times. A token equal to the delimiter ends a word; a token
 * that starts with it (SentencePiece's `▁THE`) starts one. `secondsPerStep` converts output steps
 * to seconds (1 / frame rate, times the model's temporal downsampling).
 */
export function spansToSegments(spans: LabelSpan[], spec: TokenSpec, secondsPerStep: number): Segment[] {
  const segments: Segment[] = [];
  let word = '';
  let start = 0;
  let end = 0;
  const flush = () => {
    if (word) segments.push({ start: round(start * secondsPerStep), end: round((end + 1) * secondsPerStep), text: word });
    word = '';
  };
  for (const span of spans) {
    const token = spec.tokens[span.label] ?? '';
    if (token === spec.wordDelimiter) {
      flush();
      continue;
    }
    let piece = token;
    if (token.startsWith(spec.wordDelimiter)) {
      flush();
      piece = token.slice(spec.wordDelimiter.length);
    }
    if (!piece) continue;
    if (!word) start = span.start;
    word += piece;
    end = span.end;
  }
  flush();
  return segments;
}

const round = (seconds: number) => Math.round(seconds * 1000) / 1000;

export const segmentsToText = (segments: Segment[]): string => segments.map((s) => s.text).join(' ');

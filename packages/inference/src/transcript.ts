import type { Segment } from '@talkie/contracts';
import type { LabelSpan } from './ctc';
import { isControlToken } from './sentencepiece';

export interface TokenSpec {
  tokens: readonly string[];
  /** `|`-style separator token, or `▁`-style word-start prefix */
  wordDelimiter: string;
}

/**
 * Turns aligned labels into words with times. A token equal to the delimiter ends a word; a token
 * that starts with it (SentencePiece's `▁THE`) starts one. `secondsPerStep` converts output steps
 * to seconds (1 / frame rate, times the model's temporal downsampling). A word's confidence, when
 * its spans have one, is its weakest token's (issue 17): one misread letter or piece is enough to
 * make the word wrong, so a mean would hide exactly the token worth a second look.
 */
export function spansToSegments(spans: LabelSpan[], spec: TokenSpec, secondsPerStep: number): Segment[] {
  const segments: Segment[] = [];
  let word = '';
  let start = 0;
  let end = 0;
  let confidence: number | undefined;
  const flush = () => {
    if (word) {
      const segment: Segment = { start: round(start * secondsPerStep), end: round((end + 1) * secondsPerStep), text: word };
      if (confidence !== undefined) segment.confidence = roundScore(confidence);
      segments.push(segment);
    }
    word = '';
    confidence = undefined;
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
    if (span.confidence !== undefined) confidence = Math.min(confidence ?? 1, span.confidence);
  }
  flush();
  return segments;
}

const round = (seconds: number) => Math.round(seconds * 1000) / 1000;
const roundScore = (score: number) => Math.round(score * 10_000) / 10_000;

/**
 * The text of a label sequence, words made exactly as `spansToSegments` makes them (control
 * symbols dropped): for hypotheses that are not aligned, the alternatives of issue 17.
 */
export const labelsToText = (labels: readonly number[], spec: TokenSpec): string =>
  segmentsToText(
    spansToSegments(
      labels.filter((label) => !isControlToken(spec.tokens[label] ?? '')).map((label) => ({ label, start: 0, end: 0 })),
      spec,
      1,
    ),
  );

export const segmentsToText = (segments: Segment[]): string => segments.map((s) => s.text).join(' ');

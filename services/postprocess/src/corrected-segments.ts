import type { Segment } from '@talkie/contracts';

/**
 * Word timings for an LLM-corrected transcript (issue 8), worked out once here when the correction
 * is stored (`result.corrected_segments`), not on each caption download: the alignment is quadratic
 * and at its cap costs ~100 ms of an event loop.
 * The model timed the raw words; the LLM
 * rewrote them (case, punctuation, a fixed word here and there). Each corrected word takes the
 * timing of the raw word it aligns with, by a word-level edit distance on letters and digits only,
 * so "HELLO" ↔ "Hello," matches and a fixed word is a substitution in place. A word the LLM added
 * joins the raw word before it (or after it, at the start); a raw word it dropped leaves no caption.
 * Joined with spaces, the segments' texts are the corrected text's words, in order, unchanged.
 */

/** Above this many cells the alignment would cost too much time: words are spread by position instead. */
const MAX_CELLS = 4_000_000;

const normal = (word: string) => word.toUpperCase().replace(/[^\p{L}\p{N}']/gu, '');

export function correctedSegments(segments: Segment[], correctedText: string): Segment[] {
  const words = correctedText.split(/\s+/).filter(Boolean);
  if (!words.length || !segments.length) return words.length ? [] : segments;
  const owner = segments.length * words.length > MAX_CELLS ? byPosition(segments.length, words.length) : align(segments.map((s) => normal(s.text)), words.map(normal));
  const texts: string[][] = segments.map(() => []);
  words.forEach((word, i) => texts[owner[i]].push(word));
  return segments.flatMap((s, i) => (texts[i].length ? [{ start: s.start, end: s.end, text: texts[i].join(' ') }] : []));
}

/** For each corrected word, the index of the raw segment it belongs to (non-decreasing). */
function align(raw: string[], fixed: string[]): number[] {
  const n = raw.length;
  const m = fixed.length;
  // cost[i][j]: edits to turn raw[0..i) into fixed[0..j); one flat array keeps it compact
  const cost = new Uint32Array((n + 1) * (m + 1));
  const at = (i: number, j: number) => i * (m + 1) + j;
  for (let i = 0; i <= n; i++) cost[at(i, 0)] = i;
  for (let j = 0; j <= m; j++) cost[at(0, j)] = j;
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const same = raw[i - 1] === fixed[j - 1] ? 0 : 1;
      cost[at(i, j)] = Math.min(cost[at(i - 1, j - 1)] + same, cost[at(i - 1, j)] + 1, cost[at(i, j - 1)] + 1);
    }
  }
  const owner = new Array<number>(m).fill(-1);
  let i = n;
  let j = m;
  while (j > 0) {
    if (i > 0 && cost[at(i, j)] === cost[at(i - 1, j - 1)] + (raw[i - 1] === fixed[j - 1] ? 0 : 1)) {
      owner[--j] = --i; // match or substitution: the word takes that raw word's timing
    } else if (i > 0 && cost[at(i, j)] === cost[at(i - 1, j)] + 1) {
      i--; // a raw word the LLM dropped
    } else {
      owner[--j] = -1; // a word the LLM added: placed below
    }
  }
  // an added word joins the raw word before it; at the very start, the first one after it
  let previous = -1;
  for (let k = 0; k < m; k++) {
    if (owner[k] >= 0) previous = owner[k];
    else owner[k] = previous;
  }
  const first = owner.find((o) => o >= 0) ?? 0;
  return owner.map((o) => (o < 0 ? first : o));
}

/** Words spread over segments in proportion to their position (huge transcripts only). */
function byPosition(segments: number, words: number): number[] {
  return Array.from({ length: words }, (_, k) => Math.min(segments - 1, Math.floor((k * segments) / words)));
}

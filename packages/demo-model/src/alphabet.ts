/**
 * The demo model's alphabet and its visual code. Each token is drawn as a 4×4 grid of bright and
 * dark cells filling the model's 88×88 input; the codes are a binary lexicode with minimum Hamming
 * distance 6, so a few cells spoiled by compression still read as the right token.
 */

export const BLANK = '<blank>';
export const WORD_DELIMITER = '|';
export const TOKENS: readonly string[] = [BLANK, WORD_DELIMITER, "'", ...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'];

export const GRID = 4;
export const CELLS = GRID * GRID;
export const MIN_DISTANCE = 6;

const popcount = (x: number) => {
  let n = 0;
  for (let v = x; v; v &= v - 1) n++;
  return n;
};

/** Greedy lexicode: the first codeword is 0 (all dark), which makes blank frames look "closed". */
function lexicode(count: number, bits: number, distance: number): number[] {
  const words: number[] = [];
  for (let w = 0; w < 1 << bits && words.length < count; w++) {
    if (words.every((c) => popcount(c ^ w) >= distance)) words.push(w);
  }
  if (words.length < count) throw new Error('lexicode too small');
  return words;
}

/** CODES[token index][cell] is 1 for a bright cell, 0 for a dark one (cells row-major). */
export const CODES: readonly (readonly number[])[] = lexicode(TOKENS.length, CELLS, MIN_DISTANCE).map((word) =>
  Array.from({ length: CELLS }, (_, cell) => (word >> cell) & 1),
);

/** Upper-cases and checks a text for the demo alphabet (A–Z, space, apostrophe); folds runs of spaces. */
export function normalizeDemoText(text: string): string {
  const normalized = text.toUpperCase().trim().replace(/\s+/g, ' ');
  const bad = [...new Set(normalized.replace(/[A-Z' ]/g, ''))];
  if (bad.length) throw new Error(`the demo alphabet is A–Z, space and apostrophe; not ${bad.map((c) => JSON.stringify(c)).join(', ')}`);
  if (!normalized) throw new Error('the text is empty');
  return normalized;
}

export const tokenIndex = (char: string): number => {
  const index = char === ' ' ? 1 : TOKENS.indexOf(char);
  if (index < 0) throw new Error(`no token for ${JSON.stringify(char)}`);
  return index;
};

import type { Segment, TranscriptResult } from '@talkie/contracts';

export interface Cue {
  start: number;
  end: number;
  text: string;
}

/** Caption lines stay readable: at most this many characters, this long on screen. */
const MAX_CHARS = 42;
const MAX_SECONDS = 5;
/** a pause this long starts a new caption */
const PAUSE_SECONDS = 0.8;

/**
 * What captions show: the corrected words on the raw timings when the job was corrected (the
 * postprocess service aligns them once and stores them), else the raw words.
 */
export function captionSegments(result: Pick<TranscriptResult, 'segments' | 'corrected_segments'>): Segment[] {
  return result.corrected_segments ?? result.segments;
}

/** Groups word segments into caption cues. */
export function toCues(segments: Segment[]): Cue[] {
  const cues: Cue[] = [];
  let current: Cue | undefined;
  for (const s of segments) {
    const joined = current ? `${current.text} ${s.text}` : s.text;
    if (current && (joined.length > MAX_CHARS || s.end - current.start > MAX_SECONDS || s.start - current.end >= PAUSE_SECONDS)) {
      cues.push(current);
      current = undefined;
    }
    current = current ? { start: current.start, end: s.end, text: `${current.text} ${s.text}` } : { start: s.start, end: s.end, text: s.text };
  }
  if (current) cues.push(current);
  return cues;
}

function clock(seconds: number, separator: ',' | '.'): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

export function toSrt(segments: Segment[]): string {
  return toCues(segments)
    .map((cue, i) => `${i + 1}\n${clock(cue.start, ',')} --> ${clock(cue.end, ',')}\n${cue.text}\n`)
    .join('\n');
}

export function toVtt(segments: Segment[]): string {
  const body = toCues(segments)
    .map((cue) => `${clock(cue.start, '.')} --> ${clock(cue.end, '.')}\n${cue.text}\n`)
    .join('\n');
  return `WEBVTT\n\n${body}`;
}

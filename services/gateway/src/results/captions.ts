import type { ResultWarning, Segment, TranscriptResult } from '@talkie/contracts';

export interface Cue {
  start: number;
  end: number;
  text: string;
  /** issue 17: its weakest word's confidence (as a word is its weakest piece); absent when a word has none */
  confidence?: number;
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

/**
 * Issue 17, `?face=<i>` on a result made with `face=all` (or `face=<i>`): the words of face track
 * i. The result's own `segments` (and its correction) when i is the track it read; else that
 * track's entry in `tracks`; undefined when the result has no reading of face i.
 */
export function faceReading(result: TranscriptResult, face: number): Pick<TranscriptResult, 'text' | 'segments' | 'corrected_text' | 'corrected_segments'> | undefined {
  if (result.face_track?.index === face) return result;
  return result.tracks?.find((track) => track.face === face);
}

/** Groups word segments into caption cues. */
export function toCues(segments: Segment[]): Cue[] {
  const cues: Array<Cue & { scores: Array<number | undefined> }> = [];
  let current: (typeof cues)[number] | undefined;
  for (const s of segments) {
    const joined = current ? `${current.text} ${s.text}` : s.text;
    if (current && (joined.length > MAX_CHARS || s.end - current.start > MAX_SECONDS || s.start - current.end >= PAUSE_SECONDS)) {
      cues.push(current);
      current = undefined;
    }
    current = current
      ? { start: current.start, end: s.end, text: `${current.text} ${s.text}`, scores: [...current.scores, s.confidence] }
      : { start: s.start, end: s.end, text: s.text, scores: [s.confidence] };
  }
  if (current) cues.push(current);
  return cues.map(({ scores, ...cue }) => (scores.every((c) => c !== undefined) ? { ...cue, confidence: Math.min(...(scores as number[])) } : cue));
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

/**
 * A WebVTT comment's text: one line, and never `-->`, which would end a NOTE block early (and
 * make a player read it as a cue).
 */
const noteText = (text: string) => text.replace(/\s+/g, ' ').replaceAll('-->', '->').trim();

/**
 * WebVTT. Issue 17: the result's warnings as a NOTE block at the top, and each cue's confidence as
 * `NOTE confidence 0.87` just before it. NOTE blocks are the format's comments: players and
 * browsers skip them (a cue setting would be dropped too, but only as an unknown setting, and a
 * cue's text would show), while a script can still read them. SRT has no comments: it stays as is.
 */
export function toVtt(segments: Segment[], options: { warnings?: ResultWarning[] } = {}): string {
  const warnings = options.warnings?.length ? `NOTE warnings\n${options.warnings.map((w) => `${w.code}: ${noteText(w.message)}`).join('\n')}\n\n` : '';
  const body = toCues(segments)
    .map((cue) => `${cue.confidence !== undefined ? `NOTE confidence ${cue.confidence.toFixed(2)}\n\n` : ''}${clock(cue.start, '.')} --> ${clock(cue.end, '.')}\n${cue.text}\n`)
    .join('\n');
  return `WEBVTT\n\n${warnings}${body}`;
}

import type { TranscriptResult } from '@talkie/contracts';
import { captionSegments, faceReading, toCues, toSrt, toVtt } from './captions';

const words = (list: Array<[string, number, number]>) => list.map(([text, start, end]) => ({ text, start, end }));

describe('captionSegments', () => {
  const RAW = [{ start: 0.4, end: 0.9, text: 'HELLO' }, { start: 2.32, end: 2.82, text: 'WORLD' }];
  it('captions the corrected text when there is one, the raw one otherwise', () => {
    const corrected = [{ start: 0.4, end: 0.9, text: 'Hello,' }, { start: 2.32, end: 2.82, text: 'world.' }];
    expect(toSrt(captionSegments({ segments: RAW, corrected_segments: corrected }))).toBe('1\n00:00:00,400 --> 00:00:00,900\nHello,\n\n2\n00:00:02,320 --> 00:00:02,820\nworld.\n');
    expect(captionSegments({ segments: RAW })).toBe(RAW);
    expect(captionSegments({ segments: [], corrected_segments: [] })).toEqual([]);
  });
});

describe('captions', () => {
  it('groups words into cues, breaking on pauses and line length', () => {
    const cues = toCues(words([['HELLO', 0.4, 0.8], ['WORLD', 0.9, 1.3], ['AGAIN', 3.0, 3.4]]));
    expect(cues).toEqual([
      { start: 0.4, end: 1.3, text: 'HELLO WORLD' },
      { start: 3.0, end: 3.4, text: 'AGAIN' },
    ]);
    const long = toCues(words(Array.from({ length: 12 }, (_, i) => [`WORD${i}`, i * 0.3, i * 0.3 + 0.2] as [string, number, number])));
    expect(long.every((c) => c.text.length <= 42)).toBe(true);
    expect(long.map((c) => c.text).join(' ')).toBe(Array.from({ length: 12 }, (_, i) => `WORD${i}`).join(' '));
  });

  it('writes SRT with comma milliseconds and numbered cues', () => {
    expect(toSrt(words([['HELLO', 0.4, 1.88], ['AGAIN', 3661.5, 3662]]))).toBe(
      '1\n00:00:00,400 --> 00:00:01,880\nHELLO\n\n2\n01:01:01,500 --> 01:01:02,000\nAGAIN\n',
    );
  });

  it('writes WebVTT with its header and dot milliseconds', () => {
    expect(toVtt(words([['HI', 0, 0.25]]))).toBe('WEBVTT\n\n00:00:00.000 --> 00:00:00.250\nHI\n');
    expect(toVtt([])).toBe('WEBVTT\n\n');
  });
});

describe('captions with confidence and warnings (issue 17)', () => {
  const scored = [
    { start: 0.4, end: 0.8, text: 'HELLO', confidence: 0.991 },
    { start: 0.9, end: 1.3, text: 'WORLD', confidence: 0.4349 },
    { start: 3.0, end: 3.4, text: 'AGAIN', confidence: 0.8 },
  ];

  it('gives each cue its weakest word, and none when a word has no score (records from before)', () => {
    expect(toCues(scored).map((c) => c.confidence)).toEqual([0.4349, 0.8]);
    expect(toCues([scored[0], { start: 0.9, end: 1.3, text: 'WORLD' }])[0]).toEqual({ start: 0.4, end: 1.3, text: 'HELLO WORLD' });
  });

  it('writes each cue\'s confidence as a NOTE block before it, and the warnings as a NOTE at the top', () => {
    const warnings = [
      { code: 'demo_model' as const, message: 'This is the demo model.' },
      { code: 'low_face_coverage' as const, message: 'Found in 60% of the frames;\nthe rest --> bridged.' },
    ];
    expect(toVtt(scored, { warnings })).toBe(
      'WEBVTT\n\n' +
        'NOTE warnings\ndemo_model: This is the demo model.\nlow_face_coverage: Found in 60% of the frames; the rest -> bridged.\n\n' +
        'NOTE confidence 0.43\n\n00:00:00.400 --> 00:00:01.300\nHELLO WORLD\n\n' +
        'NOTE confidence 0.80\n\n00:00:03.000 --> 00:00:03.400\nAGAIN\n',
    );
    // SRT has no comments: unchanged
    expect(toSrt(scored)).toBe('1\n00:00:00,400 --> 00:00:01,300\nHELLO WORLD\n\n2\n00:00:03,000 --> 00:00:03,400\nAGAIN\n');
  });

  it('keeps each NOTE block to what WebVTT allows: no "-->" in it, ended by a blank line (Chromium\'s parse: test/console.browser.test.ts)', () => {
    const blocks = toVtt(scored, { warnings: [{ code: 'demo_model', message: 'a --> b' }] }).split('\n\n').slice(1).filter(Boolean);
    const notes = blocks.filter((b) => b.startsWith('NOTE'));
    expect(notes).toHaveLength(3);
    expect(notes.every((b) => !b.includes('-->'))).toBe(true);
    expect(blocks.filter((b) => !b.startsWith('NOTE')).map((b) => b.split('\n')[1])).toEqual(['HELLO WORLD', 'AGAIN']);
  });
});

describe('faceReading (face=all results)', () => {
  const track = (face: number, text: string) => ({
    face,
    text,
    segments: [{ start: 0, end: 1, text }],
    face_track: { index: face, frames: 25, detected_frames: 25, interpolated_frames: 0, longest_gap_frames: 0, mean_detector_score: 0.9, source_fps: 25, model_fps: 25 },
  });
  const result: TranscriptResult = {
    ...track(0, 'HELLO'),
    corrected_text: 'Hello.',
    duration_s: 1,
    frames: 25,
    model: { name: 'm', version: '1' },
    tracks: [track(0, 'HELLO'), track(1, 'BYE')],
  };

  it('reads the result itself for the track it read (with its correction), the track entry for another, nothing for a face it lacks', () => {
    expect(faceReading(result, 0)).toBe(result);
    expect(faceReading(result, 1)).toMatchObject({ text: 'BYE', segments: [{ text: 'BYE' }] });
    expect(faceReading(result, 2)).toBeUndefined();
    expect(faceReading({ ...result, tracks: undefined, face_track: undefined }, 0)).toBeUndefined();
  });
});

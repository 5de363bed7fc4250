import type { TranscriptResult } from '@talkie/contracts';
import type { DecodedFrames } from '@talkie/media';
import { forcedAlign, greedyDecode, logSoftmaxRows, prefixBeamSearch } from './ctc';
import type { ModelSession } from './model-session';
import { normalizeFrames } from './preprocess';
import { segmentsToText, spansToSegments } from './transcript';

export interface DecodingOptions {
  method: 'greedy' | 'beam';
  beamWidth: number;
}

/** Seconds spent per stage of one transcription, filled in by `transcribe` when given. */
export interface StageTimings {
  preprocess?: number;
  inference?: number;
  ctc?: number;
}

/** Frames in, transcript out: normalisation, inference, CTC decoding, alignment and timing. */
export class LipReader {
  constructor(private readonly model: ModelSession) {}

  get manifest() {
    return this.model.pkg.manifest;
  }

  decodingDefaults(): DecodingOptions {
    return { method: this.manifest.decoding.method, beamWidth: this.manifest.decoding.beam_width };
  }

  async transcribe(video: DecodedFrames, decoding: DecodingOptions = this.decodingDefaults(), timings: StageTimings = {}): Promise<TranscriptResult> {
    const m = this.manifest;
    if (video.width !== m.input.width || video.height !== m.input.height || video.fps !== m.frame_rate) {
      throw new Error('frames were not decoded for this model (size or frame rate differ)');
    }
    const info = { name: m.name, version: m.version };
    const duration_s = video.count / video.fps;
    if (video.count === 0) return { text: '', segments: [], duration_s: 0, frames: 0, model: info };

    let started = performance.now();
    const lap = () => {
      const now = performance.now();
      const seconds = (now - started) / 1000;
      started = now;
      return seconds;
    };
    const input = normalizeFrames(video.pixels, m.normalize);
    timings.preprocess = lap();
    const scores = await this.model.run(input, video.count);
    timings.inference = lap();
    if (!m.output.log_probs) logSoftmaxRows(scores);
    const blank = m.output.blank;
    const labels =
      decoding.method === 'greedy' ? greedyDecode(scores, blank) : prefixBeamSearch(scores, blank, decoding.beamWidth);
    const spans = forcedAlign(scores, labels, blank);
    // Models may downsample in time; each output step then covers several input frames.
    const secondsPerStep = video.count / scores.steps / video.fps;
    const segments = spansToSegments(spans, { tokens: m.output.tokens, wordDelimiter: m.output.word_delimiter }, secondsPerStep);
    timings.ctc = lap();
    return { text: segmentsToText(segments), segments, duration_s, frames: video.count, model: info };
  }
}

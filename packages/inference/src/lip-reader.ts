import type { TranscriptResult } from '@talkie/contracts';
import type { DecodedFrames } from '@talkie/media';
import { forcedAlign, greedyDecode, logSoftmaxRows, prefixBeamSearch, type LogProbs } from './ctc';
import type { DecoderBeam, EncoderFeatures } from './decoder-session';
import { jointBeamSearch, type AttentionStep } from './joint-beam-search';
import type { ModelSession } from './model-session';
import { normalizeFrames } from './preprocess';
import { withoutControlTokens } from './sentencepiece';
import { segmentsToText, spansToSegments } from './transcript';

export interface DecodingOptions {
  /** `joint`: attention beam search with CTC prefix scores, for packages with a decoder */
  method: 'greedy' | 'beam' | 'joint';
  beamWidth: number;
  /** joint decoding's λ, length bonus and maximum length ratio; the manifest's when unset */
  ctcWeight?: number;
  lengthBonus?: number;
  maxLengthRatio?: number;
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
    const { method, beam_width, ctc_weight, length_bonus, max_length_ratio } = this.manifest.decoding;
    return {
      method,
      beamWidth: beam_width,
      ...(ctc_weight !== undefined ? { ctcWeight: ctc_weight } : {}),
      ...(length_bonus !== undefined ? { lengthBonus: length_bonus } : {}),
      ...(max_length_ratio !== undefined ? { maxLengthRatio: max_length_ratio } : {}),
    };
  }

  /** Throws when `decoding` cannot run on this package (joint decoding without a decoder): for start-up checks. */
  checkDecoding(decoding: DecodingOptions): void {
    if (decoding.method !== 'joint') return;
    if (!this.model.decoder || !this.manifest.decoder) throw new Error(`joint decoding needs a model package with a decoder; ${this.manifest.name} has none`);
    const weight = decoding.ctcWeight ?? this.manifest.decoding.ctc_weight;
    if (weight === undefined || !(weight >= 0 && weight <= 1)) throw new Error('joint decoding needs a CTC weight between 0 and 1');
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
      decoding.method === 'joint'
        ? await this.jointDecode(scores, scores.features, decoding)
        : decoding.method === 'greedy'
          ? greedyDecode(scores, blank)
          : prefixBeamSearch(scores, blank, decoding.beamWidth);
    // Timings come from the CTC posteriors for every decoder; control symbols (`<unk>`) are no text.
    const spans = withoutControlTokens(forcedAlign(scores, labels, blank), m.output.tokens);
    // Models may downsample in time; each output step then covers several input frames.
    const secondsPerStep = video.count / scores.steps / video.fps;
    const segments = spansToSegments(spans, { tokens: m.output.tokens, wordDelimiter: m.output.word_delimiter }, secondsPerStep);
    timings.ctc = lap();
    return { text: segmentsToText(segments), segments, duration_s, frames: video.count, model: info };
  }

  /** Issue 5: the decoder's beam search, rescored by CTC prefix scores over `ctc`. */
  private async jointDecode(ctc: LogProbs, features: EncoderFeatures | undefined, decoding: DecodingOptions): Promise<number[]> {
    this.checkDecoding(decoding);
    const { decoder: spec, decoding: defaults, output } = this.manifest;
    const decoder = this.model.decoder;
    if (!spec || !decoder || !features) throw new Error('joint decoding needs the encoder features and a decoder');
    const ctcWeight = decoding.ctcWeight ?? defaults.ctc_weight ?? 1;
    // at CTC weight 1 the search never asks the decoder: no memory projection either
    let beam: DecoderBeam | undefined;
    const attention: AttentionStep = async (prefixes, parents) => (beam ??= await decoder.begin(features)).step(prefixes, parents);
    return jointBeamSearch(ctc, attention, {
      beamWidth: decoding.beamWidth,
      ctcWeight,
      lengthBonus: decoding.lengthBonus ?? defaults.length_bonus ?? 0,
      maxLengthRatio: decoding.maxLengthRatio ?? defaults.max_length_ratio ?? 0,
      blank: output.blank,
      sos: spec.sos,
      eos: spec.eos,
    });
  }
}

import type { Alternative, TranscriptResult } from '@talkie/contracts';
import type { DecodedFrames } from '@talkie/media';
import { bestPathScore, forcedAlign, greedyDecode, logSoftmaxRows, prefixBeamSearchNBest, spanConfidences, type LabelSpan, type LogProbs } from './ctc';
import type { DecoderBeam, EncoderFeatures } from './decoder-session';
import { jointBeamSearchNBest, type AttentionStep, type JointHypothesis } from './joint-beam-search';
import type { ModelSession } from './model-session';
import { normalizeFrames } from './preprocess';
import { withoutControlTokens } from './sentencepiece';
import { labelsToText, segmentsToText, spansToSegments, type TokenSpec } from './transcript';

export interface DecodingOptions {
  /** `joint`: attention beam search with CTC prefix scores, for packages with a decoder */
  method: 'greedy' | 'beam' | 'joint';
  beamWidth: number;
  /** joint decoding's λ, length bonus and maximum length ratio; the manifest's when unset */
  ctcWeight?: number;
  lengthBonus?: number;
  maxLengthRatio?: number;
  /** issue 17: return this many best hypotheses of the search (`TranscriptResult.alternatives`); none when unset */
  alternatives?: number;
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
    // issue 17: a demo model says so in every result (and the worker adds the `demo_model` warning)
    const info = { name: m.name, version: m.version, ...(m.demo ? { demo: true } : {}) };
    const duration_s = video.count / video.fps;
    if (video.count === 0) return { text: '', segments: [], duration_s: 0, frames: 0, model: info, ...(decoding.alternatives ? { alternatives: [{ text: '', score: 0 }] } : {}) };

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
    // best first; greedy decoding has one hypothesis, scored by its own measure (the best path's log-probability)
    const hypotheses: JointHypothesis[] =
      decoding.method === 'joint'
        ? await this.jointDecode(scores, scores.features, decoding)
        : decoding.method === 'greedy'
          ? [{ labels: greedyDecode(scores, blank), score: bestPathScore(scores) }]
          : prefixBeamSearchNBest(scores, blank, decoding.beamWidth);
    const best = hypotheses[0] ?? { labels: [], score: 0 };
    // Timings and confidences come from the CTC posteriors for every decoder; control symbols (`<unk>`) are no text.
    const aligned = spanConfidences(scores, forcedAlign(scores, best.labels, blank));
    const spans = withoutControlTokens(withDecoderScores(aligned, best.tokenScores, this.ctcWeight(decoding)), m.output.tokens);
    // Models may downsample in time; each output step then covers several input frames.
    const secondsPerStep = video.count / scores.steps / video.fps;
    const spec: TokenSpec = { tokens: m.output.tokens, wordDelimiter: m.output.word_delimiter };
    const segments = spansToSegments(spans, spec, secondsPerStep);
    const text = segmentsToText(segments);
    timings.ctc = lap();
    const alternatives = decoding.alternatives ? alternativesOf(hypotheses, text, best.score, decoding.alternatives, spec) : undefined;
    return { text, segments, duration_s, frames: video.count, model: info, ...(alternatives ? { alternatives } : {}) };
  }

  /** The joint search's λ, for weighing the decoder's token scores into confidences as the search weighed them. */
  private ctcWeight(decoding: DecodingOptions): number {
    return decoding.method === 'joint' ? (decoding.ctcWeight ?? this.manifest.decoding.ctc_weight ?? 1) : 1;
  }

  /** Issue 5: the decoder's beam search, rescored by CTC prefix scores over `ctc`. */
  private async jointDecode(ctc: LogProbs, features: EncoderFeatures | undefined, decoding: DecodingOptions): Promise<JointHypothesis[]> {
    this.checkDecoding(decoding);
    const { decoder: spec, decoding: defaults, output } = this.manifest;
    const decoder = this.model.decoder;
    if (!spec || !decoder || !features) throw new Error('joint decoding needs the encoder features and a decoder');
    const ctcWeight = decoding.ctcWeight ?? defaults.ctc_weight ?? 1;
    // at CTC weight 1 the search never asks the decoder: no memory projection either
    let beam: DecoderBeam | undefined;
    const attention: AttentionStep = async (prefixes, parents) => (beam ??= await decoder.begin(features)).step(prefixes, parents);
    return jointBeamSearchNBest(ctc, attention, {
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

/**
 * Issue 17, joint decoding: each label's confidence weighs its CTC frame confidence and the
 * decoder's probability of it as the search weighed their scores, log c = λ·log c_ctc + (1 − λ)·log p_att.
 * `spans` are the aligned labels in order, one per decoded label (as `forcedAlign` returns them).
 */
export function withDecoderScores(spans: LabelSpan[], tokenScores: readonly number[] | undefined, ctcWeight: number): LabelSpan[] {
  if (!tokenScores || ctcWeight >= 1) return spans;
  return spans.map((span, i) => {
    const att = tokenScores[i];
    if (att === undefined || span.confidence === undefined) return span;
    // (at λ = 0 the CTC term is left out, not 0 · log 0)
    const ctcPart = ctcWeight > 0 ? ctcWeight * Math.log(span.confidence) : 0;
    const combined = Math.exp(ctcPart + (1 - ctcWeight) * Math.min(0, att));
    return { ...span, confidence: Number.isFinite(combined) ? combined : 0 };
  });
}

/**
 * The `n` best hypotheses as texts, distinct, best first: the transcript's own first (with the best
 * hypothesis' score), then the others in the search's order. Hypotheses that spell the same text
 * (they differ in a control symbol, or split a word into other pieces) count once, at their best.
 */
export function alternativesOf(hypotheses: readonly { labels: number[]; score: number }[], text: string, bestScore: number, n: number, spec: TokenSpec): Alternative[] {
  const out: Alternative[] = [{ text, score: bestScore }];
  const seen = new Set([text]);
  for (const h of hypotheses.slice(1)) {
    if (out.length >= n) break;
    const candidate = labelsToText(h.labels, spec);
    if (seen.has(candidate) || !Number.isFinite(h.score)) continue;
    seen.add(candidate);
    out.push({ text: candidate, score: h.score });
  }
  return out;
}

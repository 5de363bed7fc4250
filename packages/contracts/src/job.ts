import { z } from 'zod';
import { Correction } from './correction';
import { isErrorCode } from './errors';

/**
 * The states a client sees. BullMQ has more (waiting, delayed, prioritized, stalled…); they all map
 * onto these five so integrators never depend on queue internals.
 */
export const JOB_STATUSES = ['queued', 'processing', 'completed', 'failed', 'canceled'] as const;
export const JobStatus = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatus>;

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'canceled']);
export const isTerminal = (status: JobStatus): boolean => TERMINAL_STATUSES.has(status);

/** Job ids are server-generated UUIDs; anything else is rejected before it reaches Redis. */
export const JobId = z.uuid();

/** Issue 17: a face box in the source video's pixels (x, y: its top-left corner). */
export const FaceRegion = z
  .object({
    x: z.number().describe("the box's left edge, source-video pixels"),
    y: z.number().describe("the box's top edge, source-video pixels"),
    width: z.number().nonnegative().describe('source-video pixels'),
    height: z.number().nonnegative().describe('source-video pixels'),
  })
  .describe("A face box in the source video's pixels (x, y: its top-left corner)");
export type FaceRegion = z.infer<typeof FaceRegion>;

export const Segment = z.object({
  /** seconds from the start of the video */
  start: z.number().nonnegative(),
  end: z.number().nonnegative(),
  text: z.string(),
  /**
   * Issue 17: the model's own score for this word, 0 (unsure) to 1 (sure); not a calibrated
   * probability. From the CTC posteriors over the word's aligned frames (each token: the mean of
   * its frames' probabilities on the best path; the word: its weakest token), with joint decoding
   * combined with the decoder's token probabilities by the search's CTC weight. Every new segment
   * has it; optional so that records written before it still parse.
   */
  confidence: z
    .number()
    .min(0)
    .max(1)
    .describe("The model's own score for this word, 0 (unsure) to 1 (sure): a model score, not a calibrated probability; its weakest token's")
    .optional(),
  /** Issue 17: the face this word was read from, its mean box over the word's frames (models with `roi.mode: landmarks`) */
  face: FaceRegion.describe("The face this word was read from: its mean box over the word's frames, source-video pixels (models with roi.mode landmarks)").optional(),
});
export type Segment = z.infer<typeof Segment>;

/** Issue 17: one hypothesis of the decoder's search, with the search's own total log score (≤ 0 without a length bonus). */
export const Alternative = z
  .object({
    text: z.string().describe("this hypothesis' text"),
    score: z.number().describe("the search's total log score for it (≤ 0 without a length bonus; higher is better); only comparable within one result"),
  })
  .describe("One hypothesis of the decoder's search");
export type Alternative = z.infer<typeof Alternative>;

/** Most hypotheses a job may ask for (`alternatives`). */
export const MAX_ALTERNATIVES = 10;

export const ModelInfo = z.object({
  name: z.string(),
  version: z.string(),
  /** Issue 17: true for a demo model (it reads Talkie's synthetic fixtures, not lips); absent for a real one */
  demo: z.boolean().describe("true for a demo model, which reads only Talkie's synthetic fixtures, not lips; absent for a real model").optional(),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

/**
 * Issue 17: what a client should tell its user about a result, by stable code (never renamed,
 * only added to; the message is for people and may change):
 * - `demo_model`: the worker runs a demo model, which reads only Talkie's synthetic fixtures;
 * - `frame_rate_resampled`: the video's frame rate differs from the model's, so frames were
 *   dropped or repeated to the model's rate;
 * - `low_face_coverage`: the face was found in under 80% of the frames; the rest were bridged;
 * - `face_too_small`: the face is under 96 source pixels wide (median), so the mouth crop is upscaled;
 * - `several_faces`: more than one face was tracked; `faces` lists them and which one was read.
 */
export const WARNING_CODES = ['demo_model', 'frame_rate_resampled', 'low_face_coverage', 'face_too_small', 'several_faces'] as const;
export const WarningCode = z
  .enum(WARNING_CODES)
  .describe(
    'Stable code (only ever added to): demo_model: the worker runs a demo model, which reads only synthetic fixtures; ' +
      "frame_rate_resampled: the video's frame rate differs from the model's, so frames were dropped or repeated; " +
      'low_face_coverage: the face was found in under 80% of the frames, the rest were bridged; ' +
      'face_too_small: the face is under 96 source pixels wide (median), so the mouth crop is upscaled; ' +
      'several_faces: more than one face was tracked, result.faces lists them and which one was read',
  );
export type WarningCode = z.infer<typeof WarningCode>;
export const ResultWarning = z
  .object({ code: WarningCode, message: z.string().describe('for people; its wording may change') })
  .describe('Something a client should show beside the text');
export type ResultWarning = z.infer<typeof ResultWarning>;

/** Issue 17: how well a face track was followed (models with `roi.mode: landmarks`). */
export const FaceTrackQuality = z
  .object({
    /** the track's index, as in `faces` */
    index: z.number().int().nonnegative().describe("the track's index, as in faces"),
    /** frames read (at the model's rate) */
    frames: z.number().int().nonnegative().describe("frames read, at the model's frame rate"),
    /** frames where the face was found and its landmarks made a mouth */
    detected_frames: z.number().int().nonnegative().describe('frames where the face was found and its landmarks made a mouth'),
    /** frames without a face, bridged from their neighbours' landmarks (`frames − detected_frames`) */
    interpolated_frames: z.number().int().nonnegative().describe("frames without a face, bridged from their neighbours' landmarks (frames − detected_frames)"),
    /** the longest run of bridged frames */
    longest_gap_frames: z.number().int().nonnegative().describe('the longest run of bridged frames'),
    /** the face detector's mean score over the detected frames, 0…1 */
    mean_detector_score: z.number().min(0).max(1).describe("the face detector's mean score over the detected frames, 0 to 1 (a model score, not a calibrated probability)"),
    /** the video's frame rate (as probed) and the model's, frames per second */
    source_fps: z.number().nonnegative().describe("the video's frame rate as probed, frames per second (0: unknown)"),
    model_fps: z.number().positive().describe("the model's frame rate, frames per second"),
  })
  .describe('How well a face track was followed (models with roi.mode landmarks)');
export type FaceTrackQuality = z.infer<typeof FaceTrackQuality>;

/** Issue 17: one face the tracker followed. */
export const FaceTrackInfo = z
  .object({
    index: z.number().int().nonnegative().describe("the track's index: the value for face=<index>, as in face_track.index and tracks[].face"),
    /** the face's median box over the frames it was found in, source pixels */
    box: FaceRegion.describe("the face's median box over the frames it was found in, source-video pixels"),
    /** frames the face was found in */
    frames: z.number().int().nonnegative().describe('frames the face was found in'),
    /** how much its mouth moves (spread of the mouth's opening, from the landmarks, times the share of frames it was seen in); the highest is the active speaker */
    activity: z
      .number()
      .nonnegative()
      .describe("how much its mouth moves (spread of the mouth's opening, times the share of frames it was seen in; no unit, only comparable within one result): the highest is the active speaker"),
    /** whether this track was read (`text` and `segments`; every track with `face=all`) */
    chosen: z.boolean().describe('whether this track was read into text and segments (every track with face=all)'),
  })
  .describe('One face the tracker followed');
export type FaceTrackInfo = z.infer<typeof FaceTrackInfo>;

/** Issue 17, `face=all`: one face track's own reading. */
export const TrackTranscript = z
  .object({
    face: z.number().int().nonnegative().describe("the face track's index, as in faces"),
    text: z.string().describe("this face's reading"),
    segments: z.array(Segment).describe("this face's words, with timings"),
    face_track: FaceTrackQuality,
  })
  .describe("With face=all: one face track's own reading");
export type TrackTranscript = z.infer<typeof TrackTranscript>;

export const TranscriptResult = z.object({
  text: z.string(),
  segments: z.array(Segment),
  /** duration of the decoded video, in seconds */
  duration_s: z.number().nonnegative(),
  /** frames fed to the model, after resampling to the model's frame rate */
  frames: z.number().int().nonnegative(),
  model: ModelInfo,
  /** the LLM-corrected text, when the job asked for correction and it succeeded (`text` stays the raw reading) */
  corrected_text: z.string().optional(),
  /**
   * `corrected_text`'s words on the raw timings, each on the raw word it aligns with (set with
   * `corrected_text`, once, by the service that corrects; captions are made from it)
   */
  corrected_segments: z.array(Segment).optional(),
  /**
   * Issue 17: with `alternatives=N`, up to N best hypotheses of the search, best first, distinct
   * texts, the first equal to `text`; fewer when the beam holds fewer (greedy decoding has one).
   * Only for videos read whole: a long video read in windows (CHUNK_SECONDS) has none.
   */
  alternatives: z
    .array(Alternative)
    .max(MAX_ALTERNATIVES)
    .describe(
      "With alternatives=N: up to N best hypotheses of the search, best first, distinct texts, the first equal to text; fewer when the beam holds fewer (greedy decoding has one). None for a long video read in windows",
    )
    .optional(),
  /** Issue 17: what a client should show beside the text (see `WarningCode`); absent when there is nothing to say */
  warnings: z.array(ResultWarning).describe('What a client should show beside the text, by code; absent when there is nothing to say').optional(),
  /** Issue 17: the read track's quality (models with `roi.mode: landmarks`; with `face=all`, each `tracks` entry has its own) */
  face_track: FaceTrackQuality.describe("The read track's quality (models with roi.mode landmarks; with face=all each tracks entry has its own)").optional(),
  /** Issue 17: every face track found, by index (models with `roi.mode: landmarks`) */
  faces: z.array(FaceTrackInfo).describe('Every face track found, by index (models with roi.mode landmarks)').optional(),
  /** Issue 17, `face=all`: one reading per face track; `text` and `segments` are then the active speaker's */
  tracks: z.array(TrackTranscript).describe("With face=all: one reading per face track; text and segments are then the active speaker's").optional(),
});
export type TranscriptResult = z.infer<typeof TranscriptResult>;

/**
 * A failed job's error: `code` is one of the catalogue's (errors.ts), checked when parsed; the
 * schema stays a string on the wire (and in OpenAPI), as codes are only ever added to.
 */
export const JobError = z.object({ code: z.string().refine(isErrorCode, 'not an error code of the catalogue'), message: z.string() });
export type JobError = z.infer<typeof JobError>;

/** The job resource served by `GET /v1/jobs/{id}`. */
export const JobResource = z.object({
  id: JobId,
  status: JobStatus,
  progress: z.number().int().min(0).max(100),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  result: TranscriptResult.optional(),
  error: JobError.optional(),
  /** present when the job asked for LLM correction (`correct=true` or the tenant's default) */
  correction: Correction.optional(),
});
export type JobResource = z.infer<typeof JobResource>;

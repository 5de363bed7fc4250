import { z } from 'zod';

/**
 * Optional LLM correction of a transcript (issue 8): the lip-reading model gives upper-case text
 * without punctuation; an OpenAI-compatible model rewrites it as readable text. The raw text stays
 * in `result.text`; the corrected one is `result.corrected_text`, and this record says how it went.
 */
export const CORRECTION_STATUSES = ['pending', 'completed', 'failed', 'skipped'] as const;
export const CorrectionStatus = z.enum(CORRECTION_STATUSES);
export type CorrectionStatus = z.infer<typeof CorrectionStatus>;

/**
 * Why a correction failed or was skipped. Stable codes, never a library's or the LLM's message
 * (an LLM's error text can echo a masked API key). Only add, never rename.
 */
export const CORRECTION_REASONS = [
  /** skipped: the postprocess service has no LLM_BASE_URL */
  'not_configured',
  /** skipped: the model read no words, so there is nothing to correct */
  'empty_transcript',
  /** failed: the LLM endpoint could not be reached (connection refused, DNS, TLS) */
  'unreachable',
  /** failed: no answer within LLM_TIMEOUT_MS, on every attempt */
  'timeout',
  /** failed: the LLM endpoint answered with an error status on every attempt (5xx, 429, 4xx) */
  'llm_error',
  /** failed: neither the JSON-schema answer nor the plain-prompt fallback was usable */
  'invalid_output',
  /** failed: the postprocess step itself gave up (e.g. its process died repeatedly) */
  'postprocess_failed',
] as const;
export const CorrectionReason = z.enum(CORRECTION_REASONS);
export type CorrectionReason = z.infer<typeof CorrectionReason>;

/** One edit the LLM reports: a word or phrase of the raw text and what it became. */
export const CorrectionChange = z.object({ from: z.string(), to: z.string() });
export type CorrectionChange = z.infer<typeof CorrectionChange>;

export const Correction = z.object({
  status: CorrectionStatus,
  reason: CorrectionReason.optional(),
  /** the edits, when the LLM listed them (absent when it did not, e.g. a plain-text answer to the fallback prompt) */
  changes: z.array(CorrectionChange).optional(),
  /** the LLM model that made the correction */
  model: z.string().optional(),
});
export type Correction = z.infer<typeof Correction>;

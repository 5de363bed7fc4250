import type { PaddingMode, Scores } from './dynamic-batcher';
import type { ModelSession } from './model-session';

export interface BatchingProbe {
  /** `off`: batch items were not independent (the model mixes them); batching stays off */
  mode: PaddingMode | 'off';
  /** largest score difference seen between batched and single runs */
  maxDiff: number;
}

/** Scores may differ in the last bits between kernels picked for different shapes; nothing more. */
const TOLERANCE = 1e-4;

/**
 * Checks on the loaded model, at start, what batching keeps exact: two clips of different lengths
 * run alone, then together. The longer one (no padding) must score the same as alone, or batching
 * is off; the shorter one (padded) scores the same only for time-local models, which may then be
 * padded (`pad`); otherwise only equal lengths share a batch (`equal`).
 */
export async function probeBatching(session: Pick<ModelSession, 'pkg' | 'run' | 'runBatch'>): Promise<BatchingProbe> {
  const { input, frame_rate } = session.pkg.manifest;
  const frameSize = input.width * input.height;
  const clip = (frames: number, seed: number) => {
    const data = new Float32Array(frames * frameSize);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.0137 + seed) * 1.5; // any varied input, in the normalised range
    return { input: data, frames };
  };
  const short = clip(Math.max(2, Math.round(frame_rate)), 1);
  const long = clip(short.frames + Math.max(3, Math.round(frame_rate / 3)), 2);
  const alone = [await session.run(short.input, short.frames), await session.run(long.input, long.frames)];
  const together = await session.runBatch([short, long]);
  const independent = diff(alone[1], together[1]);
  if (!(independent <= TOLERANCE)) return { mode: 'off', maxDiff: independent };
  const padded = diff(alone[0], together[0]);
  return padded <= TOLERANCE ? { mode: 'pad', maxDiff: Math.max(independent, padded) } : { mode: 'equal', maxDiff: independent };
}

function diff(a: Scores, b: Scores): number {
  if (a.steps !== b.steps || a.vocab !== b.vocab) return Infinity;
  let max = 0;
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
  return max;
}

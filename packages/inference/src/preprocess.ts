import type { RoiFilter } from '@talkie/media';
import type { ModelManifest } from './manifest';

/**
 * The ffmpeg-side ROI for a manifest: the crop is always the model's input size. `landmarks` has
 * none: the mouth tracker (`@talkie/faces`) cuts those crops.
 */
export function roiFilterFor(manifest: ModelManifest): RoiFilter {
  const { width, height } = manifest.input;
  if (manifest.roi.mode === 'landmarks') throw new Error('the landmarks ROI is cut by the mouth tracker, not by an ffmpeg filter');
  if (manifest.roi.mode === 'full') return { mode: 'full', width, height };
  return { mode: 'center', width, height, ...(manifest.roi.scale ? { scale: manifest.roi.scale } : {}) };
}

/**
 * Grey 8-bit pixels to the model's input values: (p/255 - mean) / std, as one multiply-add per
 * pixel. `out` may be a view into a larger (batched) tensor.
 */
export function normalizeFrames(
  pixels: Uint8Array,
  normalize: ModelManifest['normalize'],
  out: Float32Array = new Float32Array(pixels.length),
): Float32Array {
  const scale = 1 / (255 * normalize.std);
  const offset = -normalize.mean / normalize.std;
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] * scale + offset;
  return out;
}

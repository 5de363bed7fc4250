import { PNG } from 'pngjs';

/**
 * PNG in and out through pngjs (the `roi` command's montage, the LipNet reference crops in tests),
 * as 8-bit grey, RGB or RGBA pixels without padding.
 */
export interface PngImage {
  width: number;
  height: number;
  /** 1 (grey), 3 (RGB) or 4 (RGBA) */
  channels: 1 | 3 | 4;
  data: Uint8Array;
}

const COLOR_TYPE = { 1: 0, 3: 2, 4: 6 } as const;

export function encodePng(image: PngImage): Buffer {
  const { width, height, channels, data } = image;
  if (data.length !== width * height * channels) throw new Error(`expected ${width * height * channels} bytes of pixels, got ${data.length}`);
  // pngjs takes RGBA input whatever it writes; colorType picks what ends up in the file
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0, o = 0; i < width * height; i++, o += 4) {
    const p = i * channels;
    const r = data[p];
    rgba[o] = r;
    rgba[o + 1] = channels === 1 ? r : data[p + 1];
    rgba[o + 2] = channels === 1 ? r : data[p + 2];
    rgba[o + 3] = channels === 4 ? data[p + 3] : 255;
  }
  return PNG.sync.write({ width, height, data: rgba } as PNG, { colorType: COLOR_TYPE[channels], inputColorType: 6, inputHasAlpha: true });
}

/** Any PNG pngjs reads (any bit depth, palette, interlacing): grey stays grey, alpha is kept when present. */
export function decodePng(file: Uint8Array): PngImage {
  const png = PNG.sync.read(Buffer.from(file.buffer, file.byteOffset, file.byteLength)) as PNG & { color: boolean; alpha: boolean };
  const channels: 1 | 3 | 4 = png.alpha ? 4 : png.color ? 3 : 1;
  const pixels = png.width * png.height;
  const data = new Uint8Array(pixels * channels);
  for (let i = 0; i < pixels; i++) {
    // pngjs hands every image over as RGBA
    for (let c = 0; c < channels; c++) data[i * channels + c] = png.data[i * 4 + (channels === 1 ? 0 : c)];
  }
  return { width: png.width, height: png.height, channels, data };
}

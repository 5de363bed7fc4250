import { readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Reads TensorFlow.js weight files (`<name>-weights_manifest.json` + its `.bin` shards), as
 * face-api ships them, into plain float arrays, dequantised the way tfjs-core's `io.decodeWeights`
 * does it: `value = q · scale + min` for uint8/uint16 quantisation, computed in double precision
 * and stored as float32.
 */

export interface WeightTensor {
  /** TensorFlow layout, e.g. [kh, kw, in, out] for a convolution's filters */
  shape: number[];
  data: Float32Array;
}

export type WeightMap = Map<string, WeightTensor>;

interface WeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

interface WeightGroup {
  paths: string[];
  weights: WeightEntry[];
}

export class WeightFileError extends Error {
  override name = 'WeightFileError';
}

const BYTES: Record<string, number> = { float32: 4, uint8: 1, uint16: 2 };

function count(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Decodes one group's concatenated shards; exported for tests of the byte layout. */
export function decodeWeightGroup(group: WeightGroup, bytes: Uint8Array, where: string): WeightMap {
  const map: WeightMap = new Map();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  for (const w of group.weights) {
    if (w.dtype !== 'float32') throw new WeightFileError(`${where}: ${w.name} has dtype ${w.dtype}; only float32 weights are supported`);
    const n = count(w.shape);
    const q = w.quantization;
    const storedAs = q ? q.dtype : 'float32';
    const size = BYTES[storedAs];
    if (!size) throw new WeightFileError(`${where}: ${w.name} is quantised as ${storedAs}; only uint8 and uint16 are supported`);
    if (offset + n * size > bytes.byteLength) throw new WeightFileError(`${where}: the weight files end inside ${w.name}`);
    const data = new Float32Array(n);
    if (!q) {
      for (let i = 0; i < n; i++) data[i] = view.getFloat32(offset + 4 * i, true);
    } else {
      if (typeof q.scale !== 'number' || typeof q.min !== 'number') {
        throw new WeightFileError(`${where}: ${w.name} is quantised without scale and min`);
      }
      const { scale, min } = q;
      for (let i = 0; i < n; i++) {
        const v = size === 1 ? bytes[offset + i] : view.getUint16(offset + 2 * i, true);
        data[i] = v * scale + min;
      }
    }
    offset += n * size;
    map.set(w.name, { shape: [...w.shape], data });
  }
  if (offset !== bytes.byteLength) {
    throw new WeightFileError(`${where}: ${bytes.byteLength - offset} bytes left over after the last weight`);
  }
  return map;
}

/** Reads `<dir>/<modelName>-weights_manifest.json` and the shards it names (in `dir`). */
export async function readWeightMap(dir: string, modelName: string): Promise<WeightMap> {
  const manifestFile = path.join(dir, `${modelName}-weights_manifest.json`);
  let groups: WeightGroup[];
  try {
    groups = JSON.parse(await readFile(manifestFile, 'utf8')) as WeightGroup[];
  } catch (err) {
    throw new WeightFileError(`cannot read ${manifestFile}: ${(err as Error).message}`);
  }
  if (!Array.isArray(groups)) throw new WeightFileError(`${manifestFile}: expected an array of weight groups`);
  const map: WeightMap = new Map();
  for (const group of groups) {
    const shards = await Promise.all(
      group.paths.map((p) => {
        if (path.isAbsolute(p) || p.split(/[\\/]/).includes('..')) throw new WeightFileError(`${manifestFile}: shard path ${p} leaves the folder`);
        return readFile(path.join(dir, p));
      }),
    );
    const bytes = new Uint8Array(Buffer.concat(shards));
    for (const [name, tensor] of decodeWeightGroup(group, bytes, manifestFile)) map.set(name, tensor);
  }
  return map;
}

/** The tensor `name` with exactly `shape`, or an error naming what was found. */
export function weight(map: WeightMap, name: string, shape: number[]): WeightTensor {
  const w = map.get(name);
  if (!w) throw new WeightFileError(`weight ${name} is missing`);
  if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
    throw new WeightFileError(`weight ${name} has shape [${w.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return w;
}

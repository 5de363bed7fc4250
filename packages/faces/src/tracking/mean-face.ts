import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ManifestError, MEAN_FACE_POINTS } from '@talkie/inference';

export type Point = [number, number];

/**
 * A `mean_face` alignment's mean face (`roi.alignment.mean_face`): `{"points": [[x, y], …]}`, 68
 * points in the registered image's pixels. Other keys (a `description` saying where it came from)
 * are allowed and ignored. Upstream ships it as `20words_mean_face.npy`, a (68, 2) float array:
 * `json.dump({"points": np.load(path).tolist()}, f)` makes this file from it.
 */
export const MeanFaceFile = z.object({
  // zod 4's numbers refuse NaN and ±Infinity
  points: z.array(z.tuple([z.number(), z.number()])).length(MEAN_FACE_POINTS),
});

/** Validates a parsed mean-face JSON; `where` names it in the error. */
export function parseMeanFace(json: unknown, where = 'mean face'): Point[] {
  const parsed = MeanFaceFile.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n');
    throw new ManifestError(`${where}: not a mean face of ${MEAN_FACE_POINTS} finite points\n${issues}`);
  }
  return parsed.data.points.map(([x, y]) => [x, y]);
}

/** Reads and validates a mean-face JSON file. */
export async function loadMeanFace(file: string): Promise<Point[]> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch {
    throw new ManifestError(`mean face ${file}: not readable`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ManifestError(`mean face ${file}: not valid JSON (${(err as Error).message})`);
  }
  return parseMeanFace(json, `mean face ${file}`);
}

import type { PngImage } from '../runtime/png';
import type { MouthTrack, TrackQuality } from './mouth-tracker';

/** One frame of `roi.json`: the face box and the mouth landmarks in source-video pixels, or null. */
export interface RoiFrame {
  index: number;
  time_s: number;
  face: { x: number; y: number; width: number; height: number; score: number } | null;
  mouth: Array<[number, number]> | null;
}

export interface RoiReport {
  schema: 'talkie.roi/v1';
  fps: number;
  frames: number;
  source: { width: number; height: number };
  faces_found: number;
  crop: { width: number; height: number };
  /** the crops' geometry: Talkie's reference face, or the lip package's `roi.alignment` method */
  alignment: MouthTrack['alignment'];
  /** frames whose crop centre was clamped where the alignment's own preparation would have refused the video */
  crops_clamped: number[];
  /** issue 17: every face track found (source pixels), the active speaker's index, and the track `per_frame` and the montage show */
  tracks: Array<{ index: number; box: { x: number; y: number; width: number; height: number }; activity: number; chosen: boolean } & TrackQuality>;
  active: number;
  track: number;
  per_frame: RoiFrame[];
}

const r2 = (v: number) => Math.round(v * 100) / 100;

/** What `npm run roi` writes as `roi.json`: per frame, what the tracker found on the read track (`read[0]`, before gap filling). */
export function roiReport(track: MouthTrack, mouth: readonly number[]): RoiReport {
  const sx = track.sourceWidth / track.width;
  const sy = track.sourceHeight / track.height;
  const r = r2;
  return {
    schema: 'talkie.roi/v1',
    fps: track.fps,
    frames: track.count,
    source: { width: track.sourceWidth, height: track.sourceHeight },
    faces_found: track.faces.filter(Boolean).length,
    crop: track.crop,
    alignment: track.alignment,
    crops_clamped: track.clamped,
    tracks: track.tracks.map((t) => ({
      index: t.index,
      box: { x: r(t.box.x), y: r(t.box.y), width: r(t.box.width), height: r(t.box.height) },
      activity: Math.round(t.activity * 1000) / 1000,
      chosen: t.chosen,
      ...t.quality,
      mean_detector_score: r(t.quality.mean_detector_score),
    })),
    active: track.active,
    track: track.read[0].index,
    per_frame: track.faces.map((face, index) => ({
      index,
      time_s: r2(index / track.fps),
      face: face
        ? { x: r2(face.box.x * sx), y: r2(face.box.y * sy), width: r2(face.box.width * sx), height: r2(face.box.height * sy), score: r2(face.score) }
        : null,
      mouth: face ? mouth.map((i) => [r2(face.points[2 * i] * sx), r2(face.points[2 * i + 1] * sy)] as [number, number]) : null,
    })),
  };
}

/** The mouth crops (`crops`: one read track's, the first by default) in a grid, `columns` wide, in frame order (grey), with a 2-pixel gap. */
export function cropMontage(track: MouthTrack, columns = 10, crops: Uint8Array = track.crops): PngImage {
  const { width: w, height: h } = track.crop;
  const gap = 2;
  const cols = Math.max(1, Math.min(columns, track.count));
  const rows = Math.max(1, Math.ceil(track.count / cols));
  const width = cols * w + (cols - 1) * gap;
  const height = rows * h + (rows - 1) * gap;
  const data = new Uint8Array(width * height).fill(255);
  for (let f = 0; f < track.count; f++) {
    const x0 = (f % cols) * (w + gap);
    const y0 = Math.floor(f / cols) * (h + gap);
    for (let y = 0; y < h; y++) {
      const src = f * w * h + y * w;
      data.set(crops.subarray(src, src + w), (y0 + y) * width + x0);
    }
  }
  return { width, height, channels: 1, data };
}

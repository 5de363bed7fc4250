import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { demoManifest, renderFixture, writeDemoModel, type FixtureFormat, type RenderedFixture } from '@talkie/demo-model';
import { writeSyntheticFaceModels } from '@talkie/faces/testing';
import { resolveFfmpeg } from '@talkie/media';
import { ARTIFACTS } from './stack';

const cache = new Map<string, Promise<RenderedFixture>>();

/** Renders (once per test run) a real video that the demo model reads as `text`. */
export function fixture(text: string, options: { fps?: number; format?: FixtureFormat; padSeconds?: number } = {}): Promise<RenderedFixture> {
  const fps = options.fps ?? 25;
  const format = options.format ?? 'mp4';
  const pad = options.padSeconds ?? 0;
  const name = `${text.replace(/[^A-Za-z]+/g, '_').slice(0, 40)}-${fps}fps-${pad}s.${format}`;
  let rendered = cache.get(name);
  if (!rendered) {
    const dir = path.join(ARTIFACTS, 'fixtures');
    mkdirSync(dir, { recursive: true });
    rendered = resolveFfmpeg().then((b) => renderFixture({ text, fps, format, padSeconds: pad, out: path.join(dir, name), ffmpeg: b.ffmpeg }));
    cache.set(name, rendered);
  }
  return rendered;
}

/** The fixture for `text`, with ffmpeg's box blur over the frames of word `index` (the demo model still reads it, less sure of that word). */
export async function blurredWord(text: string, index: number): Promise<RenderedFixture> {
  const video = await fixture(text);
  const word = video.words[index];
  const out = path.join(ARTIFACTS, 'fixtures', `${text.replace(/[^A-Z]+/g, '_')}-blur-${index}.mp4`);
  const { ffmpeg } = await resolveFfmpeg();
  await promisify(execFile)(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-i', video.file, '-vf', `boxblur=12:enable='between(t,${word.start},${word.end})'`, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
  return { ...video, file: out };
}

/**
 * A model package in `dir` that tracks faces (issue 17): the demo model with `roi.mode: landmarks`
 * and Talkie's synthetic face package, which reads @talkie/faces' renderTwoFaces videos.
 */
export async function writeLandmarksDemoModel(dir: string): Promise<string> {
  await writeDemoModel(dir);
  await writeFile(path.join(dir, 'model.json'), JSON.stringify({ ...demoManifest(), roi: { mode: 'landmarks', face_package: 'faces', crop: { width: 96, height: 96 } } }, null, 2));
  await writeSyntheticFaceModels(path.join(dir, 'faces'));
  return dir;
}

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { renderFixture, type FixtureFormat, type RenderedFixture } from '@talkie/demo-model';
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

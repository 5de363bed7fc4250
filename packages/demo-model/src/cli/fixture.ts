#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { resolveFfmpeg } from '@talkie/media';
import { FIXTURE_FORMATS, renderFixture, type FixtureFormat } from '../fixture';

const USAGE = `usage: npm run fixture -- --text "HELLO WORLD" --out clip.mp4 [--fps 25] [--format mp4|webm|mov|mkv|avi] [--pad 0]

Renders a video that Talkie's demo model reads back as --text (A–Z, space, apostrophe), and prints
each word's start and end time (seconds) as JSON. The format defaults to the --out extension.`;

async function main() {
  const { values } = parseArgs({
    options: {
      text: { type: 'string' },
      out: { type: 'string' },
      fps: { type: 'string', default: '25' },
      format: { type: 'string' },
      pad: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.text || !values.out) {
    console.log(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const format = (values.format ?? values.out.split('.').pop() ?? 'mp4') as FixtureFormat;
  if (!FIXTURE_FORMATS.includes(format)) throw new Error(`--format must be one of ${FIXTURE_FORMATS.join(', ')}`);
  const binaries = await resolveFfmpeg();
  const fixture = await renderFixture({
    text: values.text,
    out: values.out,
    fps: Number(values.fps),
    format,
    padSeconds: Number(values.pad),
    ffmpeg: binaries.ffmpeg,
  });
  console.log(JSON.stringify(fixture, null, 2));
}

main().catch((err: Error) => {
  console.error(`fixture: ${err.message}`);
  process.exit(1);
});

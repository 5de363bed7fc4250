#!/usr/bin/env node
import path from 'node:path';
import { DEFAULT_FACE_MODELS_DIR, ensureFaceModels, writeFaceModels } from '../convert/face-models';

const USAGE = 'usage: npm run models:faces -- [--out DIR] [--landmarks full|tiny] [--force]';

/**
 * `npm run models:faces`: converts face-api's weights (from the installed npm package, no network)
 * into a Talkie face model package, by default in .talkie/models/faces; does nothing when an
 * up-to-date package is already there (`--force` rebuilds).
 */
async function main(argv: string[]): Promise<void> {
  let out = DEFAULT_FACE_MODELS_DIR;
  let landmarks: 'full' | 'tiny' = 'full';
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--out' && argv[i + 1]) out = argv[++i];
    else if (arg === '--landmarks' && (argv[i + 1] === 'full' || argv[i + 1] === 'tiny')) landmarks = argv[++i] as 'full' | 'tiny';
    else if (arg === '--force') force = true;
    else throw new Error(`unexpected argument ${arg}\n${USAGE}`);
  }
  const dir = path.resolve(out);
  if (force) {
    const manifest = await writeFaceModels(dir, { landmarks });
    console.log(`face models ${manifest.name} ${manifest.version} written to ${dir}`);
    return;
  }
  const { built, manifest } = await ensureFaceModels(dir, { landmarks });
  console.log(`face models ${manifest.name} ${manifest.version} ${built ? 'written to' : 'already up to date in'} ${dir}`);
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(`models:faces: ${err.message}`);
  process.exit(1);
});

#!/usr/bin/env node
import path from 'node:path';
import { writeVisemeModel } from '../viseme-reader-model';

/**
 * `node packages/demo-model/dist/cli/build-viseme-model.js [dir]`: writes the generated encoder +
 * decoder test package (default models/visemes), to try joint CTC/attention decoding with
 * MODEL_DIR on fixture videos (`npm run fixture -- --text "A BIG BAT" …`).
 */
const dir = path.resolve(process.argv[2] ?? 'models/visemes');
writeVisemeModel(dir).then(
  () => console.log(`viseme test model package (encoder + decoder) written to ${dir}`),
  (err: Error) => {
    console.error(`build-viseme-model: ${err.message}`);
    process.exit(1);
  },
);

#!/usr/bin/env node
import path from 'node:path';
import { writeDemoModel } from '../letter-reader-model';

/** `npm run models:demo -- [dir]`: writes the demo model package (default models/demo). */
const dir = path.resolve(process.argv[2] ?? 'models/demo');
writeDemoModel(dir).then(
  () => console.log(`demo model package written to ${dir}`),
  (err: Error) => {
    console.error(`models:demo: ${err.message}`);
    process.exit(1);
  },
);

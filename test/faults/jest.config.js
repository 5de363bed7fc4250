/**
 * The fault-injection suite (`npm run test:faults`): real processes, real Redis (a leased logical DB
 * of the shared one, or a private redis-server), real ffmpeg; each case injects a failure and checks
 * what survives it. Slow, so separate from `npm test`; the root config leaves test/faults/ out.
 */
const path = require('node:path');
const root = require('../../jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  rootDir: path.resolve(__dirname, '..', '..'),
  testEnvironment: root.testEnvironment,
  transform: root.transform,
  moduleNameMapper: root.moduleNameMapper,
  testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  // the cases kill processes and time recoveries on a small machine: one at a time
  maxWorkers: 1,
  testTimeout: 120_000,
  verbose: true,
};

/** One jest run for unit tests (beside the code, against sources) and cross-service tests in test/. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: '<rootDir>/test/support/node-environment.js',
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testMatch: ['<rootDir>/{packages,services,tools}/*/src/**/*.test.ts', '<rootDir>/bench/src/**/*.test.ts', '<rootDir>/test/*.test.ts'],
  // a package's testing entry point (`@talkie/faces/testing`) maps to its src/testing.ts, as node maps
  // it to the package's testing.js stub over dist/
  moduleNameMapper: {
    '^@talkie/([a-z-]+)/testing$': '<rootDir>/packages/$1/src/testing',
    '^@talkie/([a-z-]+)$': '<rootDir>/packages/$1/src',
  },
  testTimeout: 60_000,
  // No forceExit (issue 18): it hid leaked handles. A run that does not end after its last test is a
  // leak to find (`process.getActiveResourcesInfo()`, /proc/<pid>/task/*/wchan for blocked opens).
};

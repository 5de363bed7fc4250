/**
 * `@talkie/faces/testing`: Talkie's synthetic face package and the fixture videos it reads, for
 * tests and benchmarks only. Kept off the main entry point so that services importing
 * `@talkie/faces` never load test fixtures, and so that `@talkie/demo-model` (whose frame helpers
 * the moving-mouth fixture draws with) is a development dependency of this package, not a runtime one.
 */
export * from './synthetic/ring-face-model';
export * from './synthetic/moving-mouth-fixture';
export * from './synthetic/mean-face-fixture';

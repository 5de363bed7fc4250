export * from './redis';
export * from './transcribe-queue';
export * from './job-store';
export * from './retention-sweeper';
export * from './postprocess-queue';
export * from './chunk-flow';
export * from './probe-memo';

export * from './redis';
export * from './transcribe-queue';
export * from './job-store';
export * from './retention-sweeper';

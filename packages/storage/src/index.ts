export * from './blob-storage';
export * from './local-storage';
export * from './create-storage';

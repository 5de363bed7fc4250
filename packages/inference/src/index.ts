export * from './manifest';
export * from './preprocess';
export * from './ctc';
export * from './transcript';
export * from './model-session';
export * from './lip-reader';
export * from './runtime-version';

export * from './alphabet';
export * from './letter-reader-model';
export * from './fixture';
export * from './viseme-reader-model';

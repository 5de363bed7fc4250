export * from './job';
export * from './errors';
export * from './queue';
export * from './auth';
export * from './webhook';
export * from './correction';
export * from './media';

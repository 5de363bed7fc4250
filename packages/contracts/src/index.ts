export * from './job';
export * from './errors';
export * from './queue';
export * from './auth';
export * from './webhook';

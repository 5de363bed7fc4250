export * from './job';
export * from './errors';
export * from './queue';

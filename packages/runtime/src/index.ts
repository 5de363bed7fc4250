export * from './env';
export * from './logger';
export * from './shutdown';
export * from './metrics-server';
export * from './priority';

export * from './binaries';
export * from './probe';
export * from './decode';
export * from './probe-policy';
export * from './resident-prober';
export * from './video-prober';
export * from './settings';

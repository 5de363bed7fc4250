export * from './weights';
export * from './tiny-face-detector';
export * from './face-landmark-68';
export * from './face-models';

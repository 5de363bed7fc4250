export * from './face-package';
// issue 10: face-api's weights converted to ONNX, and the pure-TS decoding around the models
export * from './convert';
export {
  decodeTinyYolo,
  nonMaxSuppression,
  decodeLandmarks,
  faceCrop,
  toModelInput,
  modelInputMapping,
  type TinyYoloOptions,
  type GridTensor,
  type LandmarkDecodeOptions,
  type InputSpec,
} from './detect';
// issues 5 and 10: the ONNX runners and the mouth tracker (the synthetic face package: `@talkie/faces/testing`)
export * from './runtime/image';
export * from './runtime/face-models';
export * from './tracking/alignment';
export * from './tracking/mean-face';
export * from './tracking/mean-face-alignment';
export * from './tracking/opencv-sampling';
export * from './tracking/landmark-series';
export * from './tracking/mouth-tracker';
export * from './runtime/png';
export * from './tracking/face-package-dir';
export * from './tracking/roi-report';

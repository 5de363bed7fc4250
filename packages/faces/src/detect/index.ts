export * from './box';
export * from './nms';
export * from './tiny-yolo';
export * from './landmarks';
export * from './image';

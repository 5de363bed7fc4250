import { loadWorkerConfig } from './config';

describe('worker config: execution, batching and chunking', () => {
  it('defaults to cpu, no batching and no chunking', () => {
    expect(loadWorkerConfig({})).toMatchObject({ EXECUTION_PROVIDERS: 'cpu', MAX_BATCH: 1, BATCH_WINDOW_MS: 10, CHUNK_SECONDS: 0, CHUNK_OVERLAP_S: 4, INTER_OP_THREADS: 0 });
  });

  it('accepts provider lists in order of preference, with a device id', () => {
    expect(loadWorkerConfig({ EXECUTION_PROVIDERS: 'tensorrt, CUDA ,cpu', EXECUTION_DEVICE_ID: '1' })).toMatchObject({ EXECUTION_PROVIDERS: 'tensorrt, CUDA ,cpu', EXECUTION_DEVICE_ID: 1 });
  });

  it.each([
    ['cuda,gpu', /unknown execution provider\(s\) gpu/],
    [' , ', /EXECUTION_PROVIDERS is empty/],
    ['cpu,cpu', /listed twice: cpu/],
  ])('refuses EXECUTION_PROVIDERS=%j', (value, message) => {
    expect(() => loadWorkerConfig({ EXECUTION_PROVIDERS: value })).toThrow(message);
  });

  it('needs the chunk overlap to be under half a chunk', () => {
    expect(loadWorkerConfig({ CHUNK_SECONDS: '30', CHUNK_OVERLAP_S: '4' }).CHUNK_SECONDS).toBe(30);
    expect(() => loadWorkerConfig({ CHUNK_SECONDS: '8', CHUNK_OVERLAP_S: '4' })).toThrow(/CHUNK_OVERLAP_S: 4 must be less than half of CHUNK_SECONDS \(8\)/);
    expect(() => loadWorkerConfig({ MAX_BATCH: '0' })).toThrow(/MAX_BATCH/);
  });
});

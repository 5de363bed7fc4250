import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeSyntheticFaceModels } from '../synthetic/ring-face-model';
import { FaceModels } from './face-models';

let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-face-models-'));
  await writeSyntheticFaceModels(tmp);
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('FaceModels.load', () => {
  // onnxruntime-node here ships no CUDA libraries (as test/execution-providers.e2e.test.ts relies on)
  it('falls back from cuda to cpu once for both models, and keeps what it fell back from', async () => {
    const models = await FaceModels.load(tmp, { executionProviders: ['cuda', 'cpu'] });
    try {
      expect(models.hasDetector).toBe(true);
      expect(models.executionProviders).toEqual(['cpu']);
      // the detector opens on the landmark model's providers: cuda is not tried (nor recorded) again
      expect(models.providerFallbacks).toEqual([{ provider: 'cuda', reason: expect.stringMatching(/Cuda|CUDA|shared library/) }]);
    } finally {
      await models.release();
    }
  });

  it('runs on cpu when asked for nothing, with no fallbacks', async () => {
    const models = await FaceModels.load(tmp);
    try {
      expect(models.executionProviders).toEqual(['cpu']);
      expect(models.providerFallbacks).toEqual([]);
    } finally {
      await models.release();
    }
  });
});

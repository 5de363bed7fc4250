import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { visemeManifest, writeVisemeModel } from '@talkie/demo-model';
import { LipReader } from './lip-reader';
import { loadModelPackage, ManifestError, ModelManifest } from './manifest';
import { ModelSession } from './model-session';

/** The manifest fields of packages with an attention decoder (issue 5). */
type Json = Record<string, any>;
const json = (): Json => JSON.parse(JSON.stringify(visemeManifest())) as Json;
const problems = (doc: Json) => {
  const parsed = ModelManifest.safeParse(doc);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-decoder-manifest-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('manifests with a decoder', () => {
  it('accepts the generated encoder + decoder manifest and resolves the decoder inside the package', async () => {
    expect(problems(json())).toEqual([]);
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json()));
    const pkg = await loadModelPackage(dir);
    expect(pkg.modelPath).toBe(path.join(dir, 'encoder.onnx'));
    expect(pkg.decoderPath).toBe(path.join(dir, 'decoder.onnx'));
  });

  it('requires the encoder features output when there is a decoder', () => {
    const doc = json();
    delete doc.output.features;
    expect(problems(doc)).toEqual(['output.features: required with a decoder: the encoder output it reads as memory']);
  });

  it('requires a decoder and a CTC weight for joint decoding', () => {
    const doc = json();
    delete doc.decoder;
    delete doc.decoding.ctc_weight;
    expect(problems(doc).sort()).toEqual(['decoding.ctc_weight: required for joint decoding', 'decoding.method: joint decoding needs a decoder']);
  });

  it.each([
    [{ sos: 99 }, 'decoder.sos'],
    [{ eos: 0 }, 'decoder.eos'],
    [{ model_file: '../decoder.onnx' }, 'decoder.model_file'],
    [{ memory_batch: 'some' }, 'decoder.memory_batch'],
  ])('rejects decoder %j at %s', (change, at) => {
    const doc = json();
    Object.assign(doc.decoder, change);
    expect(problems(doc).map((p) => p.split(':')[0])).toEqual([at]);
  });

  it.each([[{ ctc_weight: 1.5 }], [{ ctc_weight: -0.1 }], [{ max_length_ratio: 2 }]])('rejects decoding %j', (change) => {
    const doc = json();
    Object.assign(doc.decoding, change);
    expect(problems(doc)).toHaveLength(1);
  });

  it('keeps a CTC-only manifest free of the new fields', () => {
    const doc = json();
    delete doc.decoder;
    delete doc.output.features;
    doc.decoding = { method: 'beam', beam_width: 8 };
    expect(ModelManifest.parse(doc).decoding).toEqual({ method: 'beam', beam_width: 8 });
  });
});

describe('ModelSession with a decoder', () => {
  it('loads the decoder beside the encoder', async () => {
    await writeVisemeModel(dir);
    const session = await ModelSession.load(dir);
    try {
      expect(session.decoder).toBeDefined();
      const reader = new LipReader(session);
      expect(reader.decodingDefaults()).toEqual({ method: 'joint', beamWidth: 40, ctcWeight: 0.1, lengthBonus: 0 });
      expect(() => reader.checkDecoding(reader.decodingDefaults())).not.toThrow();
    } finally {
      await session.release();
    }
  });

  it('rejects a decoder whose names are not in its graph, naming the package', async () => {
    await writeVisemeModel(dir, { ...visemeManifest(), decoder: { ...visemeManifest().decoder!, inputs: { tokens: 'tgt', memory: 'memory' } } });
    await expect(ModelSession.load(dir)).rejects.toThrow(new RegExp(`model package ${dir}: the decoder graph has no input "tgt" \\(it has ys, memory\\)`));
  });

  it('rejects a features output the encoder does not have', async () => {
    await writeVisemeModel(dir, { ...visemeManifest(), output: { ...visemeManifest().output, features: 'enc_out' } });
    const err = await ModelSession.load(dir).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as Error).message).toContain('the graph has no output "enc_out" (it has features, logits)');
  });

  it('refuses joint decoding on a package without a decoder', async () => {
    const { writeDemoModel } = await import('@talkie/demo-model');
    await writeDemoModel(dir);
    const session = await ModelSession.load(dir);
    try {
      expect(() => new LipReader(session).checkDecoding({ method: 'joint', beamWidth: 8, ctcWeight: 0.3 })).toThrow(/needs a model package with a decoder/);
    } finally {
      await session.release();
    }
  });
});

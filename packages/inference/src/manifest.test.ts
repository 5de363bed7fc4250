import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { demoManifest, writeDemoModel } from '@talkie/demo-model';
import { loadModelPackage, ManifestError, ModelManifest } from './manifest';
import { ModelSession } from './model-session';

type Json = Record<string, unknown>;

/** A fresh, mutable copy of the demo manifest as plain JSON. */
const validJson = (): Json => JSON.parse(JSON.stringify(demoManifest())) as Json;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-manifest-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const writeManifest = (json: unknown) => writeFile(path.join(dir, 'model.json'), JSON.stringify(json, null, 2));

/** Loads the package in `dir` and returns the ManifestError it must fail with. */
async function loadError(load: () => Promise<unknown> = () => loadModelPackage(dir)): Promise<ManifestError> {
  try {
    await load();
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    return err as ManifestError;
  }
  throw new Error('expected the model package to be rejected');
}

describe('loadModelPackage', () => {
  it('loads the demo manifest and resolves the model file inside the package folder', async () => {
    await writeManifest(validJson());
    const pkg = await loadModelPackage(dir);
    expect(pkg.dir).toBe(dir);
    expect(pkg.modelPath).toBe(path.join(dir, 'model.onnx'));
    expect(pkg.manifest).toEqual(demoManifest());
  });

  it('fills in the documented defaults for optional fields', async () => {
    const json = validJson();
    delete json.demo;
    delete json.model_file;
    delete json.decoding;
    delete (json.output as Json).log_probs;
    await writeManifest(json);
    const { manifest, modelPath } = await loadModelPackage(dir);
    expect(manifest.demo).toBe(false);
    expect(manifest.model_file).toBe('model.onnx');
    expect(modelPath).toBe(path.join(dir, 'model.onnx'));
    expect(manifest.decoding).toEqual({ method: 'beam', beam_width: 8 });
    expect(manifest.output.log_probs).toBe(false);
  });

  it('accepts a model file in a subfolder of the package', async () => {
    await writeManifest({ ...validJson(), model_file: 'onnx/model-int8.onnx' });
    expect((await loadModelPackage(dir)).modelPath).toBe(path.join(dir, 'onnx', 'model-int8.onnx'));
  });

  it('rejects a folder without model.json', async () => {
    const err = await loadError();
    expect(err.message).toContain(dir);
    expect(err.message).toContain('no readable model.json');
  });

  it('rejects model.json that is not JSON, naming the file problem', async () => {
    await writeFile(path.join(dir, 'model.json'), '{ "schema": "talkie.model/v1", ');
    const err = await loadError();
    expect(err.message).toContain('model.json is not valid JSON');
    expect(err.message).toContain(dir);
  });

  it('rejects a blank index past the end of the token list, at output.blank', async () => {
    const json = validJson();
    const output = json.output as { tokens: string[]; blank: number };
    output.blank = output.tokens.length;
    await writeManifest(json);
    const err = await loadError();
    expect(err.message).toContain('invalid model.json');
    expect(err.message).toMatch(/output\.blank: must index into tokens/);
  });

  it.each([
    ['../model.onnx'],
    ['weights/../../model.onnx'],
    ['..\\model.onnx'],
    [path.resolve('/etc/model.onnx')],
  ])('rejects model_file %j, which points outside the package', async (modelFile) => {
    await writeManifest({ ...validJson(), model_file: modelFile });
    const err = await loadError();
    expect(err.message).toMatch(/model_file: must be a path inside the package/);
  });

  it.each([
    [['frame_rate'], 'frame_rate'],
    [['schema'], 'schema'],
    [['input', 'width'], 'input.width'],
    [['input', 'name'], 'input.name'],
    [['output', 'tokens'], 'output.tokens'],
    [['output', 'word_delimiter'], 'output.word_delimiter'],
    [['normalize', 'std'], 'normalize.std'],
    [['roi', 'mode'], 'roi.mode'],
  ])('names the missing field %j as %s', async (fieldPath, named) => {
    const json = validJson();
    let parent = json;
    for (const key of fieldPath.slice(0, -1)) parent = parent[key] as Json;
    delete parent[fieldPath[fieldPath.length - 1]];
    await writeManifest(json);
    const err = await loadError();
    expect(err.message).toContain('invalid model.json');
    expect(err.message.split('\n').some((line) => line.trim().startsWith(`${named}:`))).toBe(true);
  });

  it('reports every problem at once, one line per field path', async () => {
    const json = validJson();
    json.frame_rate = -25;
    (json.input as Json).layout = 'NHWC';
    (json.normalize as Json).std = 0;
    await writeManifest(json);
    const lines = (await loadError()).message.split('\n').slice(1).map((l) => l.trim());
    expect(lines.map((l) => l.split(':')[0]).sort()).toEqual(['frame_rate', 'input.layout', 'normalize.std']);
  });

  it('rejects a centre-crop scale smaller than the model input, at roi.scale', async () => {
    await writeManifest({ ...validJson(), roi: { mode: 'center', scale: { width: 64, height: 96 } } });
    expect((await loadError()).message).toMatch(/roi\.scale: must be at least the input size/);
  });

  it('rejects a document that is not an object, at (root)', async () => {
    await writeManifest([1, 2, 3]);
    expect((await loadError()).message).toContain('(root)');
  });

  it('parses the same manifests as the exported schema', () => {
    expect(ModelManifest.safeParse(validJson()).success).toBe(true);
    expect(ModelManifest.safeParse({ ...validJson(), schema: 'talkie.model/v2' }).success).toBe(false);
  });
});

describe('ModelSession.load', () => {
  it('loads the demo model and runs one step per frame with one score per token', async () => {
    await writeDemoModel(dir);
    const session = await ModelSession.load(dir);
    try {
      expect(session.executionProviders).toEqual(['cpu']);
      expect(session.loadMs).toBeGreaterThan(0);
      expect(session.pkg.manifest.name).toBe(demoManifest().name);
      const { width, height } = demoManifest().input;
      const out = await session.run(new Float32Array(3 * width * height), 3);
      expect(out.steps).toBe(3);
      expect(out.vocab).toBe(demoManifest().output.tokens.length);
      expect(out.data).toHaveLength(3 * out.vocab);
    } finally {
      await session.release();
    }
  });

  it('rejects a model.onnx that is not an ONNX graph, with an error that names ONNX Runtime', async () => {
    await writeManifest(validJson());
    await writeFile(path.join(dir, 'model.onnx'), Buffer.from('this is not a protobuf \x00\xff\x13\x37'.repeat(20), 'latin1'));
    const err = await loadError(() => ModelSession.load(dir));
    expect(err.message).toContain('ONNX Runtime could not load model.onnx');
  });

  it('rejects a package whose model file is missing', async () => {
    await writeManifest(validJson());
    const err = await loadError(() => ModelSession.load(dir));
    expect(err.message).toContain('ONNX Runtime could not load model.onnx');
  });

  it('fails the warm-up when the manifest lists fewer tokens than the graph has classes', async () => {
    await writeDemoModel(dir);
    const json = validJson();
    const output = json.output as { tokens: string[] };
    const classes = output.tokens.length;
    output.tokens = output.tokens.slice(0, -1);
    await writeManifest(json);
    const err = await loadError(() => ModelSession.load(dir));
    expect(err.message).toContain(`has ${classes} classes but the manifest lists ${classes - 1} tokens`);
  });

  it('rejects a manifest whose input name is not an input of the graph', async () => {
    await writeDemoModel(dir);
    await writeManifest({ ...validJson(), input: { ...(validJson().input as Json), name: 'frames' } });
    const err = await loadError(() => ModelSession.load(dir));
    expect(err.message).toContain('the graph has no input "frames" (it has video)');
  });

  it('rejects a manifest whose output name is not an output of the graph', async () => {
    await writeDemoModel(dir);
    await writeManifest({ ...validJson(), output: { ...(validJson().output as Json), name: 'probs' } });
    const err = await loadError(() => ModelSession.load(dir));
    expect(err.message).toContain('the graph has no output "probs" (it has logits)');
  });

  it('validates model.json before touching the model file', async () => {
    await writeDemoModel(dir);
    await writeManifest({ ...validJson(), frame_rate: 0 });
    expect((await loadError(() => ModelSession.load(dir))).message).toMatch(/frame_rate:/);
  });
});

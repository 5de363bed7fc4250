import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DecoderSession, jointBeamSearch, ModelManifest, ModelSession } from '@talkie/inference';
import { sharedDir } from '../../../test/support/shared-data';
import { findTorchPythonSync, runImporter } from './importer';

/**
 * Issue 16: the importer, run for real on `shared/avsr-reference/reduced.pth` (Auto-AVSR's visual
 * architecture at a reduced size, random weights, with outputs computed by upstream's own
 * modules). Needs a Python with PyTorch: .ci/run installs Debian's python3-torch, so in CI these
 * run; on a machine without it they are skipped with a note.
 */
const SHARED = sharedDir();
const REFERENCE = path.join(SHARED, 'avsr-reference');
const PYTHON = findTorchPythonSync();
const describeTorch = PYTHON ? describe : describe.skip;
const EXPORT_DIR = path.resolve(__dirname, '..');

it('has PyTorch where CI runs (.ci/run installs python3-torch), so the importer tests are not skipped there', () => {
  if (process.env.CI) expect(PYTHON).toBeDefined();
  else if (!PYTHON) console.warn('importer tests skipped: no Python with PyTorch (apt-get install python3-torch)');
});

const f32 = async (file: string) => {
  const b = await readFile(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const maxAbsDiff = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};

/** Python run on the importer's own modules; prints JSON. */
function python(code: string): unknown {
  const out = execFileSync(PYTHON!, ['-c', code], { cwd: EXPORT_DIR, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describeTorch('tools/export/export_auto_avsr.py on the reduced Auto-AVSR reference', () => {
  let work: string;
  let units: string;
  let pkg: string;
  let first: { code: number; stdout: string; stderr: string };

  const importer = (args: string[]) => runImporter(PYTHON!, args, { timeoutMs: 240_000 });

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'talkie-import-'));
    units = path.join(work, 'units.txt');
    // 5,047 placeholder units: the reference model has 5,049 outputs (blank + units + <eos>)
    await writeFile(units, Array.from({ length: 5047 }, (_, i) => `\u2581w${i + 1} ${i + 1}`).join('\n') + '\n');
    pkg = path.join(work, 'reduced');
    first = await importer(['--checkpoint', path.join(REFERENCE, 'reduced.pth'), '--units', units, '--out', pkg, '--roi', 'center', '--prefix-decoder']);
  }, 300_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('writes a package only after onnxruntime-node matched PyTorch within 1e-4 everywhere, and says the figures', async () => {
    expect(first.stderr).not.toMatch(/Traceback/);
    expect(first.code).toBe(0);
    const report = JSON.parse(await readFile(path.join(pkg, 'import-report.json'), 'utf8'));
    expect(report.parity.ok).toBe(true);
    expect(report.parity.comparisons.map((c: { name: string }) => c.name)).toEqual(expect.arrayContaining(['ctc_log_probs', 'features', expect.stringMatching(/^decoder step 4/)]));
    for (const c of report.parity.comparisons) {
      expect(c.max_abs_diff).toBeLessThanOrEqual(1e-4);
      expect(c.argmax_mismatches).toBe(0);
    }
    expect(report.architecture).toMatchObject({ adim: 256, aheads: 4, eunits: 1024, elayers: 2, dlayers: 2, cnn_module_kernel: 31, rel_pos_type: 'latest', odim: 5049 });
    expect(first.stdout).toMatch(/parity ctc_log_probs: max \|PyTorch - onnxruntime-node\| = \d\.\de-0\d/);
    console.log(first.stdout);
  });

  it('leaves every file of the package readable by others (0644), model.json included', async () => {
    const files = [...(await readdir(pkg)).map((f) => path.join(pkg, f)), ...(await readdir(path.join(pkg, 'parity'))).map((f) => path.join(pkg, 'parity', f))];
    for (const file of files) {
      const mode = (await stat(file)).mode & 0o777;
      expect([file, mode.toString(8)]).toEqual([file, (await stat(file)).isDirectory() ? '755' : '644']);
    }
    ModelManifest.parse(JSON.parse(await readFile(path.join(pkg, 'model.json'), 'utf8')));
  });

  it("reproduces upstream's reference outputs in PyTorch within 1e-5", () => {
    const diffs = python(`
import json, numpy as np, torch
from talkie_avsr.checkpoint import read_checkpoint, infer_config, build_model
R = ${JSON.stringify(REFERENCE + '/')}
sd = read_checkpoint(R + 'reduced.pth', False)
m = build_model(sd, infer_config(sd, {}, 'latest'))
x = torch.from_numpy(np.fromfile(R + 'input_NTCHW_1x29x1x88x88.f32', '<f4').reshape(1, 29, 1, 88, 88)).transpose(1, 2)
with torch.no_grad():
    lp, mem, feat = m.encode(x)
    d = m.decoder.forward_one_step(torch.tensor([[5048, 17, 230, 4000]]), torch.from_numpy(np.fromfile(R + 'features_1x29x256.f32', '<f4').reshape(1, 29, 256)))
f = lambda name, t: float(np.abs(t.numpy().ravel() - np.fromfile(R + name, '<f4')).max())
print(json.dumps({"ctc": f('ctc_log_probs_1x29x5049.f32', lp), "features": f('features_1x29x256.f32', feat), "decoder": f('decoder_logp_1x5049.f32', d)}))
`) as Record<string, number>;
    console.log('PyTorch vs upstream reference (max abs):', diffs);
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(1e-5);
  });

  it("reproduces upstream's reference outputs in onnxruntime-node within 1e-4, the decoder through its key/value cache", async () => {
    const model = await ModelSession.load(pkg, { executionProviders: ['cpu'] });
    try {
      // (N, T, C, H, W) with C = 1 is the same memory as Talkie's (N, C, T, H, W)
      const out = await model.run(await f32(path.join(REFERENCE, 'input_NTCHW_1x29x1x88x88.f32')), 29);
      const ctc = maxAbsDiff(out.data, await f32(path.join(REFERENCE, 'ctc_log_probs_1x29x5049.f32')));
      const features = maxAbsDiff(out.features!.data, await f32(path.join(REFERENCE, 'features_1x29x256.f32')));
      const beam = await model.decoder!.begin(out.features!);
      const prefix = [5048, 17, 230, 4000];
      let logp = new Float32Array(0);
      for (let i = 1; i <= prefix.length; i++) logp = await beam.step([prefix.slice(0, i)], [0]);
      const decoder = maxAbsDiff(logp, await f32(path.join(REFERENCE, 'decoder_logp_1x5049.f32')));
      console.log('onnxruntime-node vs upstream reference (max abs):', { ctc, features, decoder });
      for (const d of [ctc, features, decoder]) expect(d).toBeLessThanOrEqual(1e-4);
    } finally {
      await model.release();
    }
  });

  it.each([5, 10, 40])("finds the whole-prefix decoder's tokens at beam %i, with the same scores at every step", async (beamWidth) => {
    const model = await ModelSession.load(pkg, { executionProviders: ['cpu'] });
    const manifest = model.pkg.manifest;
    const eos = manifest.decoder!.eos;
    const prefixManifest: ModelManifest = { ...manifest, decoder: { kind: 'prefix', model_file: 'decoder_prefix.onnx', inputs: { tokens: 'ys', memory: 'memory' }, output: 'logp', log_probs: true, memory_batch: 'shared', sos: eos, eos } };
    const whole = await DecoderSession.load(path.join(pkg, 'decoder_prefix.onnx'), prefixManifest, ['cpu']);
    try {
      const input = await f32(path.join(REFERENCE, 'input_NTCHW_1x29x1x88x88.f32'));
      const out = await model.run(input, 29);
      const features = out.features!;
      const options = { beamWidth, ctcWeight: 0.1, lengthBonus: 0, maxLengthRatio: 0, blank: 0, sos: eos, eos };
      const cached = await model.decoder!.begin(features);
      let worst = 0;
      let steps = 0;
      const viaCache = await jointBeamSearch(out, async (prefixes, parents) => {
        const got = await cached.step(prefixes, parents);
        worst = Math.max(worst, maxAbsDiff(got, await whole.step(prefixes, features)));
        steps++;
        return got;
      }, options);
      const viaPrefix = await jointBeamSearch(out, (prefixes) => whole.step(prefixes, features), options);
      expect(viaCache).toEqual(viaPrefix);
      expect(steps).toBeGreaterThan(1);
      expect(worst).toBeLessThanOrEqual(1e-4);
    } finally {
      await model.release();
      await whole.release();
    }
  }, 120_000);

  describe('other layouts of the same weights', () => {
    /** Saves the reference state dict rewritten by `transform` (Python source over `sd`) and imports it. */
    async function importVariant(name: string, transform: string, extra: string[] = []) {
      const checkpoint = path.join(work, `${name}.pth`);
      python(`
import json, torch
sd = torch.load(${JSON.stringify(path.join(REFERENCE, 'reduced.pth'))}, map_location='cpu')
${transform}
torch.save(out, ${JSON.stringify(checkpoint)})
print(json.dumps(True))
`);
      const out = path.join(work, name);
      return { out, result: await importer(['--checkpoint', checkpoint, '--units', units, '--out', out, '--roi', 'center', ...extra]) };
    }
    const sameOutputs = async (dir: string) => expect(Buffer.compare(await readFile(path.join(dir, 'parity', 'features.f32')), await readFile(path.join(pkg, 'parity', 'features.f32')))).toBe(0);

    it('imports a Lightning checkpoint (state_dict, model. prefix) to the same outputs', async () => {
      const { out, result } = await importVariant('lightning', "out = {'state_dict': {'model.' + k: v for k, v in sd.items()}, 'epoch': 3}");
      expect(result.code).toBe(0);
      await sameOutputs(out);
    }, 120_000);

    it("imports Chaplin's layout (front-end and projection inside the encoder) to the same outputs", async () => {
      const { out, result } = await importVariant(
        'chaplin',
        "out = {(k.replace('frontend.', 'encoder.frontend.', 1) if k.startswith('frontend.') else k.replace('proj_encoder.', 'encoder.embed.0.', 1) if k.startswith('proj_encoder.') else k): v for k, v in sd.items()}",
      );
      expect(result.code).toBe(0);
      await sameOutputs(out);
    }, 120_000);

    it("reads Chaplin's .ini and model.json: rel_mha without rel_pos_type is ESPnet's legacy encoding, which gives other outputs", async () => {
      const conf = path.join(work, 'model.json');
      await writeFile(conf, JSON.stringify([80, 5049, { adim: 256, aheads: 4, transformer_encoder_attn_layer_type: 'rel_mha', macaron_style: true, use_cnn_module: true, relu_type: 'swish' }]));
      const ini = path.join(work, 'LRS3_V_WER19.1.ini');
      await writeFile(ini, `[input]\nmodality=video\n[model]\nmodel_conf=model.json\n[decode]\nbeam_size=12\npenalty=0.0\nmaxlenratio=0.0\nctc_weight=0.2\nlm_weight=0.3\n`);
      const out = path.join(work, 'legacy');
      const result = await importer(['--checkpoint', path.join(REFERENCE, 'reduced.pth'), '--units', units, '--out', out, '--roi', 'center', '--config', ini]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/rel_pos_type legacy \(the config has rel_mha without rel_pos_type, which ESPnet reads as legacy\)/);
      const manifest = ModelManifest.parse(JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8')));
      expect(manifest.decoding).toMatchObject({ method: 'joint', beam_width: 12, ctc_weight: 0.2, length_bonus: 0 });
      const legacy = await f32(path.join(out, 'parity', 'features.f32'));
      // ten times the parity tolerance: the two encodings are not numerically interchangeable
      expect(maxAbsDiff(legacy, await f32(path.join(pkg, 'parity', 'features.f32')))).toBeGreaterThan(1e-3);
    }, 120_000);
  });

  describe('what it refuses, with one clear line and no package', () => {
    const refused = async (result: { code: number; stderr: string }, out: string, message: RegExp) => {
      expect(result.code).toBe(1);
      expect(result.stderr).not.toMatch(/Traceback|File ".*", line/);
      expect(result.stderr).toMatch(message);
      await expect(stat(out)).rejects.toThrow();
    };

    it('names missing and unexpected tensors', async () => {
      const checkpoint = path.join(work, 'broken.pth');
      python(`
import json, torch
sd = torch.load(${JSON.stringify(path.join(REFERENCE, 'reduced.pth'))}, map_location='cpu')
sd['encoder.encoders.0.extra_gate.weight'] = sd.pop('encoder.encoders.1.conv_module.norm.weight')
torch.save(sd, ${JSON.stringify(checkpoint)})
print(json.dumps(True))`);
      const out = path.join(work, 'broken');
      const result = await importer(['--checkpoint', checkpoint, '--units', units, '--out', out, '--roi', 'center']);
      await refused(result, out, /1 tensor\(s\) missing: encoder\.encoders\.1\.conv_module\.norm\.weight; 1 tensor\(s\) unexpected: encoder\.encoders\.0\.extra_gate\.weight/);
    }, 60_000);

    it('refuses a file that is no checkpoint', async () => {
      const checkpoint = path.join(work, 'notes.pth');
      await writeFile(checkpoint, 'not a checkpoint\n');
      const out = path.join(work, 'notes');
      await refused(await importer(['--checkpoint', checkpoint, '--units', units, '--out', out, '--roi', 'center']), out, /is not a PyTorch checkpoint that can be read/);
    });

    it('unpickles Python objects only with --trust-checkpoint', async () => {
      const checkpoint = path.join(work, 'pickled.pth');
      python(`
import argparse, json, torch
sd = torch.load(${JSON.stringify(path.join(REFERENCE, 'reduced.pth'))}, map_location='cpu')
torch.save({'state_dict': {'model.' + k: v for k, v in sd.items()}, 'hyper_parameters': argparse.Namespace(lr=1)}, ${JSON.stringify(checkpoint)})
print(json.dumps(True))`);
      const out = path.join(work, 'pickled');
      await refused(await importer(['--checkpoint', checkpoint, '--units', units, '--out', out, '--roi', 'center']), out, /holds Python objects besides tensors .*--trust-checkpoint/);
      const trusted = await importer(['--checkpoint', checkpoint, '--units', units, '--out', out, '--roi', 'center', '--trust-checkpoint']);
      expect(trusted.code).toBe(0);
    }, 120_000);

    it('refuses a units file of another vocabulary', async () => {
      const short = path.join(work, 'short-units.txt');
      await writeFile(short, '<unk> 1\n\u2581A 2\n');
      const out = path.join(work, 'short');
      await refused(await importer(['--checkpoint', path.join(REFERENCE, 'reduced.pth'), '--units', short, '--out', out, '--roi', 'center']), out, /the model has 5049 outputs but the units file gives 4 tokens/);
    });

    it("asks for Auto-AVSR's mean face for the landmarks crop, or --roi center", async () => {
      const out = path.join(work, 'no-face');
      await refused(await importer(['--checkpoint', path.join(REFERENCE, 'reduced.pth'), '--units', units, '--out', out]), out, /give --mean-face .*20words_mean_face\.npy.*--roi center/);
    });

    it('never overwrites a package without --force', async () => {
      const result = await importer(['--checkpoint', path.join(REFERENCE, 'reduced.pth'), '--units', units, '--out', pkg, '--roi', 'center']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/exists and is not empty: choose another --out, or add --force/);
    });
  });
});


import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ModelManifest, tokensFromUnits } from '@talkie/inference';

/**
 * tools/export/export_auto_avsr.py needs PyTorch and an Auto-AVSR checkpoint to write the ONNX
 * files, neither of which exists here; what runs without them is tested: the script compiles, and
 * the model.json it writes (--manifest-only) is one Talkie loads, with the token list Talkie reads
 * from the same units file.
 */
const run = promisify(execFile);
const SCRIPT = path.resolve(__dirname, '..', 'export_auto_avsr.py');
const FIXTURES = path.resolve(__dirname, '..', 'fixtures');

let out: string;
beforeEach(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'talkie-export-'));
});
afterEach(() => rm(out, { recursive: true, force: true }));

/** Runs the script; resolves with its exit code and output whatever the code. */
async function exportScript(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('python3', [SCRIPT, ...args], { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('tools/export/export_auto_avsr.py', () => {
  it('compiles', async () => {
    const code = `import py_compile; py_compile.compile(${JSON.stringify(SCRIPT)}, cfile=${JSON.stringify(path.join(out, 'x.pyc'))}, doraise=True)`;
    await expect(run('python3', ['-c', code])).resolves.toBeDefined();
  });

  it('writes a model.json that validates as a Talkie manifest, with joint decoding and the units as tokens', async () => {
    const units = path.join(FIXTURES, 'units-sample.txt');
    const result = await exportScript(['--units', units, '--out', out, '--manifest-only', '--name', 'lrs3-vsr', '--ctc-weight', '0.3']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const manifest = ModelManifest.parse(JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8')));
    const tokens = tokensFromUnits(await readFile(units, 'utf8'));
    expect(manifest.output.tokens).toEqual(tokens);
    expect(manifest.output).toMatchObject({ blank: 0, word_delimiter: '\u2581', log_probs: true, features: 'features' });
    expect(manifest.decoder).toMatchObject({ model_file: 'decoder.onnx', sos: tokens.length - 1, eos: tokens.length - 1, memory_batch: 'shared' });
    expect(manifest.decoding).toEqual({ method: 'joint', beam_width: 40, ctc_weight: 0.3, length_bonus: 0 });
    expect(manifest).toMatchObject({ name: 'lrs3-vsr', model_file: 'encoder.onnx', frame_rate: 25, normalize: { mean: 0.421, std: 0.165 } });
  });

  it('refuses a units file whose ids skip, writing nothing', async () => {
    const result = await exportScript(['--units', path.join(FIXTURES, 'units-gap.txt'), '--out', out, '--manifest-only']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('units line 3: expected "<unit> 3"');
    await expect(readFile(path.join(out, 'model.json'))).rejects.toThrow();
  });

  it('says what is missing for a full export, without a traceback', async () => {
    const result = await exportScript(['--units', path.join(FIXTURES, 'units-sample.txt'), '--out', out, '--checkpoint', path.join(out, 'none.pth')]);
    expect(result.code).not.toBe(0);
    // here: no PyTorch; with PyTorch but no Auto-AVSR checkout or checkpoint, those are named
    expect(result.stderr).toMatch(/needs PyTorch|Auto-AVSR's model code|no checkpoint/);
    expect(result.stderr).not.toContain('Traceback');
  });

  it('requires a checkpoint unless --manifest-only', async () => {
    const result = await exportScript(['--units', path.join(FIXTURES, 'units-sample.txt'), '--out', out]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--checkpoint is required unless --manifest-only');
  });
});

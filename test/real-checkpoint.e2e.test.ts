import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ModelManifest } from '@talkie/inference';
import { resolveFfmpeg } from '@talkie/media';
import { findTorchPython, runImporter } from '../tools/export/src/importer';
import { submit, waitForJob } from './support/client';
import { gridDir, sharedDir } from './support/shared-data';
import { startStack, type Stack } from './support/stack';

/**
 * Issue 16, end to end: a checkpoint of Auto-AVSR's architecture (shared/avsr-reference/reduced.pth:
 * random weights, so the text means nothing) imported by tools/export with Auto-AVSR's own crop,
 * then a real worker process transcribing a real speaker (GRID) through the gateway: face
 * tracking, registration to the mean face, the encoder, and joint decoding through the kv_cache
 * decoder. What it must do is run, within the time and memory it prints.
 */
jest.setTimeout(600_000);

const MEAN_FACE = path.resolve(__dirname, '..', 'packages', 'faces', 'fixtures', 'grid-mean-face.json');
// generous: the point is a bound that a runaway (a decoder re-reading its prefix, a cache copied
// per step) would cross, not a timing; the bench measures speed
const JOB_SECONDS_BOUND = 120;
const WORKER_PEAK_RSS_BOUND_MB = 3_000;

let tmp: string;
let python: string | undefined;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-real-checkpoint-'));
  python = await findTorchPython();
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

it('has PyTorch where CI runs, so this test is not skipped there', () => {
  if (process.env.CI) expect(python).toBeDefined();
  else if (!python) console.warn('real-checkpoint e2e skipped: no Python with PyTorch (apt-get install python3-torch)');
});

describe('an imported Auto-AVSR checkpoint in the worker', () => {
  let stack: Stack | undefined;
  let modelDir: string;
  afterAll(() => stack?.stop());

  it("transcribes a GRID clip with Auto-AVSR's crop and joint decoding, within bounds of time and memory", async () => {
    if (!python) return;
    const units = path.join(tmp, 'units.txt');
    await writeFile(units, Array.from({ length: 5047 }, (_, i) => `\u2581w${i + 1} ${i + 1}`).join('\n') + '\n');
    modelDir = path.join(tmp, 'reduced');
    const imported = await runImporter(python, [
      '--checkpoint', path.join(sharedDir(), 'avsr-reference', 'reduced.pth'),
      '--units', units,
      '--mean-face', MEAN_FACE,
      '--name', 'auto-avsr-reduced-random',
      '--out', modelDir,
    ], { timeoutMs: 300_000 }); // prettier-ignore
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    const manifest = ModelManifest.parse(JSON.parse(await readFile(path.join(modelDir, 'model.json'), 'utf8')));
    expect(manifest.roi).toMatchObject({ mode: 'landmarks', crop: { width: 96, height: 96 }, alignment: { method: 'mean_face', mean_face: 'mean-face.json', smoothing_window: 12 } });
    expect(manifest.decoder).toMatchObject({ kind: 'kv_cache', sos: 5048, eos: 5048 });

    const bins = await resolveFfmpeg();
    // uploads are MP4/MOV/WebM/MKV/AVI, GRID is MPEG-PS: re-encoded into the temporary folder
    const clip = path.join(tmp, 'bbaf2n.mp4');
    execFileSync(bins.ffmpeg, ['-v', 'error', '-y', '-i', path.join(gridDir(), 'bbaf2n.mpg'), '-an', '-c:v', 'libx264', '-crf', '16', '-pix_fmt', 'yuv420p', clip]);

    stack = await startStack({ name: 'real-checkpoint', workers: 1, workerEnv: { MODEL_DIR: modelDir } });
    const token = stack.token('alice');
    const started = performance.now();
    const created = await submit(stack.baseUrl, token, clip);
    expect(created.status).toBe(202);
    const job = await waitForJob(stack.baseUrl, token, created.body.id, JOB_SECONDS_BOUND * 1000);
    const seconds = (performance.now() - started) / 1000;
    const peakMb = peakRssMb(stack.workers[0].pid!);
    console.log(`imported reduced Auto-AVSR on GRID bbaf2n: job ${seconds.toFixed(1)} s (bound ${JOB_SECONDS_BOUND} s), worker peak RSS ${peakMb} MB (bound ${WORKER_PEAK_RSS_BOUND_MB} MB), text "${job.result?.text}"`);

    expect(job.error).toBeUndefined();
    expect(job.status).toBe('completed');
    const result = job.result!;
    expect(result.model).toEqual({ name: 'auto-avsr-reduced-random', version: '1.0.0' });
    expect(result.frames).toBe(75);
    expect(result.duration_s).toBeCloseTo(3, 1);
    expect(typeof result.text).toBe('string');
    // placeholder units read back as their pieces, and every segment lies inside the clip
    for (const segment of result.segments) {
      expect(segment.text).toMatch(/^w\d+$/);
      expect(segment.start).toBeGreaterThanOrEqual(0);
      expect(segment.end).toBeLessThanOrEqual(result.duration_s + 1e-6);
    }
    expect(seconds).toBeLessThan(JOB_SECONDS_BOUND);
    expect(peakMb).toBeLessThan(WORKER_PEAK_RSS_BOUND_MB);
    const log = await readFile(stack.logFile('worker-1'), 'utf8');
    expect(log).toMatch(/"model":"auto-avsr-reduced-random".*"msg":"model loaded"/);
    expect(log).toMatch(/"alignment":"mean_face".*"msg":"mouth tracker loaded"/);
    expect(log).not.toMatch(/DEMO MODEL/);
  });
});

/** The process' peak resident set (VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const status = execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' });
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  return Math.round(kb / 1024);
}

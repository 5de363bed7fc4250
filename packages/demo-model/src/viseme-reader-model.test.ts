import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DecoderSession, LipReader, ModelManifest, ModelSession, type DecodingOptions } from '@talkie/inference';
import type { DecodedFrames } from '@talkie/media';
import { fixtureFrame, FRAME_HEIGHT, FRAME_WIDTH, timeline } from './fixture';
import { INPUT_SIZE } from './letter-reader-model';
import { VISEME_TOKENS, visemeBigram, visemeManifest, visemeTokens, writeVisemeModel } from './viseme-reader-model';

/** The frames ffmpeg would hand the worker for a 25 fps fixture: the centred 88×88 of each rendered frame. */
function framesFor(text: string): DecodedFrames {
  const plan = timeline(text);
  const fps = 25;
  const count = Math.ceil(plan.duration_s * fps - 1e-9);
  const size = INPUT_SIZE * INPUT_SIZE;
  const pixels = new Uint8Array(count * size);
  const x0 = (FRAME_WIDTH - INPUT_SIZE) / 2;
  const y0 = (FRAME_HEIGHT - INPUT_SIZE) / 2;
  for (let i = 0; i < count; i++) {
    const frame = fixtureFrame(plan, i, fps);
    for (let y = 0; y < INPUT_SIZE; y++) {
      pixels.set(frame.subarray((y0 + y) * FRAME_WIDTH + x0, (y0 + y) * FRAME_WIDTH + x0 + INPUT_SIZE), i * size + y * INPUT_SIZE);
    }
  }
  return { pixels, count, width: INPUT_SIZE, height: INPUT_SIZE, fps };
}

let dir: string;
let session: ModelSession;
let reader: LipReader;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-visemes-'));
  await writeVisemeModel(dir);
  session = await ModelSession.load(dir);
  reader = new LipReader(session);
}, 60_000);
afterAll(async () => {
  await session?.release();
  await rm(dir, { recursive: true, force: true });
});

const joint = (ctcWeight: number): DecodingOptions => ({ method: 'joint', beamWidth: 40, ctcWeight });

describe('the generated viseme encoder + decoder pair', () => {
  it('has a manifest that validates, with Auto-AVSR-style tokens and decoding settings', () => {
    const manifest = ModelManifest.parse(visemeManifest());
    expect(manifest.output.tokens[0]).toBe('<blank>');
    expect(manifest.output.tokens[manifest.output.tokens.length - 1]).toBe('<eos>');
    expect(manifest.decoder).toMatchObject({ sos: VISEME_TOKENS.length - 1, eos: VISEME_TOKENS.length - 1 });
    expect(manifest.decoding).toEqual({ method: 'joint', beam_width: 40, ctc_weight: 0.1, length_bonus: 0 });
  });

  it('runs the encoder with two outputs: CTC scores over the tokens and (1, T, D) features', async () => {
    const frames = framesFor('A BIG BAT');
    const out = await session.run(new Float32Array(frames.count * INPUT_SIZE * INPUT_SIZE), frames.count);
    expect(out.steps).toBe(frames.count);
    expect(out.vocab).toBe(VISEME_TOKENS.length);
    expect(out.features).toMatchObject({ steps: frames.count, dim: 16 });
    expect(out.features!.data).toHaveLength(frames.count * 16);
  });

  it('reads B and P alike with its CTC head alone, preferring P', async () => {
    for (const text of ['A BIG BAT', 'A PIG PAT']) {
      expect((await reader.transcribe(framesFor(text), { method: 'beam', beamWidth: 8 })).text).toBe('A PIG PAT');
      expect((await reader.transcribe(framesFor(text), { method: 'greedy', beamWidth: 1 })).text).toBe('A PIG PAT');
    }
  });

  it('reads "A BIG BAT" with joint decoding at the manifest weights, and the CTC reading again at λ = 1', async () => {
    const frames = framesFor('A BIG BAT');
    const result = await reader.transcribe(frames);
    expect(result.text).toBe('A BIG BAT');
    expect(result.segments.map((s) => s.text)).toEqual(['A', 'BIG', 'BAT']);
    expect((await reader.transcribe(frames, joint(0.3))).text).toBe('A BIG BAT');
    expect((await reader.transcribe(frames, joint(1))).text).toBe('A PIG PAT');
  });

  it('times joint results from the CTC posteriors, like the CTC-only ones', async () => {
    const frames = framesFor('A BIG BAT');
    const expected = timeline('A BIG BAT').words;
    const result = await reader.transcribe(frames, joint(0.1));
    result.segments.forEach((segment, i) => {
      expect(Math.abs(segment.start - expected[i].start)).toBeLessThanOrEqual(0.08);
      expect(Math.abs(segment.end - expected[i].end)).toBeLessThanOrEqual(0.08);
    });
  });

  it('scores a batch of prefixes in one decoder call, with memory per hypothesis or shared', async () => {
    const frames = framesFor('A BIG BAT');
    const { features } = await session.run(new Float32Array(frames.count * INPUT_SIZE * INPUT_SIZE), frames.count);
    const eos = VISEME_TOKENS.length - 1;
    const [a, space, b, p] = ['A', '\u2581', 'B', 'P'].map((t) => VISEME_TOKENS.indexOf(t));
    const prefixes = [[eos, a, space], [eos, a, b], [eos, a, p]];
    const batched = await session.decoder!.step(prefixes, features!);
    expect(batched).toHaveLength(3 * VISEME_TOKENS.length);
    for (let i = 0; i < prefixes.length; i++) {
      const single = await session.decoder!.step([prefixes[i]], features!);
      const row = batched.subarray(i * VISEME_TOKENS.length, (i + 1) * VISEME_TOKENS.length);
      row.forEach((v, k) => expect(v).toBeCloseTo(single[k], 5));
      // log-probabilities: they sum to 1
      expect(row.reduce((s, v) => s + Math.exp(v), 0)).toBeCloseTo(1, 4);
    }
    // the bigram: after a word start, B is far likelier than P
    const bigram = visemeBigram();
    const afterSpace = batched.subarray(0, VISEME_TOKENS.length);
    expect(afterSpace[b] - afterSpace[p]).toBeGreaterThan(2);
    expect(Math.abs(afterSpace[b] - afterSpace[p] - (bigram[space * VISEME_TOKENS.length + b] - bigram[space * VISEME_TOKENS.length + p]))).toBeLessThan(0.2);

    const manifest = ModelManifest.parse({ ...visemeManifest(), decoder: { ...visemeManifest().decoder!, memory_batch: 'shared' } });
    const shared = await DecoderSession.load(path.join(dir, 'decoder.onnx'), manifest, ['cpu']);
    try {
      const once = await shared.step(prefixes, features!);
      once.forEach((v, k) => expect(v).toBeCloseTo(batched[k], 5));
    } finally {
      await shared.release();
    }
  });

  it('spells sentences as the encoder does', () => {
    expect(visemeTokens('A BIG').map((v) => VISEME_TOKENS[v])).toEqual(['A', '\u2581', 'B', 'I', 'G']);
  });
});

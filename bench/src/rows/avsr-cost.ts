/**
 * Multiply-accumulates of Auto-AVSR's visual model (tools/export/talkie_avsr/model.py), from a
 * package's own sizes (the `architecture` of its import-report.json and its input size), to say
 * what the floor of row 10's ratio is: the joint search runs the decoder once per hypothesis and
 * step, the encoder runs once per clip. Counts the matrix products only (convolutions, linear
 * layers, attention's two products); normalisation, activations, softmax and the CTC prefix scores
 * (JavaScript, outside ONNX) are left out. Pure, unit-tested in avsr-cost.test.ts.
 */

/** The fields of import-report.json's `architecture` (talkie_avsr.model.ArchConfig) used here. */
export interface AvsrArchitecture {
  odim: number;
  adim: number;
  eunits: number;
  elayers: number;
  cnn_module_kernel: number;
  macaron_style: boolean;
  use_cnn_module: boolean;
  rel_pos_type: string;
  ddim: number;
  dunits: number;
  dlayers: number;
  proj_decoder: boolean;
  frontend_channels: number;
}

/** `Conv2d`/`Conv3d`/pooling output length: floor((n + 2·pad − kernel) / stride) + 1. */
const out = (n: number, kernel: number, stride: number, pad: number) => Math.floor((n + 2 * pad - kernel) / stride) + 1;

/**
 * The front-end per frame: the 5×7×7 Conv3d stem (stride 1×2×2) with its 1×3×3 max-pool, then
 * ResNet-18's four stages of two basic blocks (channels c, 2c, 4c, 8c; stride 2 from the second),
 * then `proj_encoder` (8c → adim).
 */
export function frontendMacsPerFrame(a: AvsrArchitecture, height: number, width: number): number {
  const c = a.frontend_channels;
  let h = out(height, 7, 2, 3);
  let w = out(width, 7, 2, 3);
  let macs = c * 5 * 7 * 7 * h * w; // the stem: every output pixel reads 5 frames of 7×7
  h = out(h, 3, 2, 1);
  w = out(w, 3, 2, 1);
  let inplanes = c;
  for (let stage = 0; stage < 4; stage++) {
    const planes = c * 2 ** stage;
    if (stage > 0) {
      h = out(h, 3, 2, 1);
      w = out(w, 3, 2, 1);
    }
    const px = h * w;
    macs += inplanes * planes * 9 * px + planes * planes * 9 * px; // first block, conv1 (strided) and conv2
    if (stage > 0 || inplanes !== planes) macs += inplanes * planes * px; // its 1×1 downsample
    macs += 2 * planes * planes * 9 * px; // second block
    inplanes = planes;
  }
  return macs + inplanes * a.adim;
}

/**
 * The Conformer encoder and CTC head over `steps` steps (one per frame): per block the macaron and
 * the final feed-forward (d·eunits twice each), self-attention's q, k, v and out (4·d² per step),
 * the relative positions' projection (2T−1 positions for the "latest" encoding, T for "legacy"),
 * the attention products (content T·T·d, position T·P·d, weighted sum T·T·d), the convolution
 * module (pointwise d→2d, depthwise kernel K, pointwise d→d); then the CTC head (d·odim per step).
 */
export function conformerMacs(a: AvsrArchitecture, steps: number): number {
  const d = a.adim;
  const T = steps;
  const positions = a.rel_pos_type === 'legacy' ? T : 2 * T - 1;
  const ffn = (a.macaron_style ? 2 : 1) * 2 * d * a.eunits * T;
  const attention = 4 * d * d * T + positions * d * d + (2 * T * T + T * positions) * d;
  const conv = a.use_cnn_module ? (2 * d * d + d * a.cnn_module_kernel + d * d) * T : 0;
  return a.elayers * (ffn + attention + conv) + d * a.odim * T;
}

/** The whole encoder (`model.run`): front-end on every frame, then the Conformer and the CTC head. */
export function encoderMacs(a: AvsrArchitecture, frames: number, height: number, width: number): number {
  return frames * frontendMacsPerFrame(a, height, width) + conformerMacs(a, frames);
}

/**
 * The decoder's memory graph, once per utterance: the cross-attention keys and values of every
 * layer (2·T·d² each), after the encoder-to-decoder projection when the model has one.
 */
export function decoderMemoryMacs(a: AvsrArchitecture, memorySteps: number): number {
  return (a.proj_decoder ? memorySteps * a.adim * a.ddim : 0) + a.dlayers * 2 * memorySteps * a.ddim * a.ddim;
}

/**
 * One hypothesis, one step of the key/value-cached decoder: per layer self-attention's q, k, v and
 * out for the new token (4·d²), its attention over the `history` keys of its prefix and itself
 * (2·history·d), cross-attention's q and out (2·d²; keys and values come from the memory graph)
 * and its attention over the memory (2·T·d), the feed-forward (2·d·dunits); then the output layer
 * (d·odim).
 */
export function decoderMacsPerHypothesisStep(a: AvsrArchitecture, history: number, memorySteps: number): number {
  const d = a.ddim;
  const layer = 4 * d * d + 2 * history * d + 2 * d * d + 2 * memorySteps * d + 2 * d * a.dunits;
  return a.dlayers * layer + d * a.odim;
}

/**
 * The search's decoder work: the memory graph, then for each step the hypotheses it scored
 * (`hypothesesPerStep[i]` at step i, each attending to i + 1 rows: sos, its i tokens).
 */
export function searchDecoderMacs(a: AvsrArchitecture, memorySteps: number, hypothesesPerStep: readonly number[]): number {
  let macs = decoderMemoryMacs(a, memorySteps);
  hypothesesPerStep.forEach((hyps, i) => (macs += hyps * decoderMacsPerHypothesisStep(a, i + 1, memorySteps)));
  return macs;
}

/** Reads and checks import-report.json's `architecture`: every field used above, of its type. */
export function parseArchitecture(report: unknown): AvsrArchitecture {
  const arch = (report as { architecture?: Record<string, unknown> } | null)?.architecture;
  if (!arch || typeof arch !== 'object') throw new Error('import-report.json has no architecture');
  const numbers = ['odim', 'adim', 'eunits', 'elayers', 'cnn_module_kernel', 'ddim', 'dunits', 'dlayers', 'frontend_channels'] as const;
  const flags = ['macaron_style', 'use_cnn_module', 'proj_decoder'] as const;
  for (const key of numbers) if (!(Number.isInteger(arch[key]) && (arch[key] as number) > 0)) throw new Error(`import-report.json: architecture.${key} is not a positive integer`);
  for (const key of flags) if (typeof arch[key] !== 'boolean') throw new Error(`import-report.json: architecture.${key} is not a boolean`);
  if (typeof arch.rel_pos_type !== 'string') throw new Error('import-report.json: architecture.rel_pos_type is not a string');
  return arch as unknown as AvsrArchitecture;
}

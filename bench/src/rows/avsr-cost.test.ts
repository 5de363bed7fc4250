import {
  conformerMacs,
  decoderMacsPerHypothesisStep,
  decoderMemoryMacs,
  encoderMacs,
  frontendMacsPerFrame,
  parseArchitecture,
  searchDecoderMacs,
  type AvsrArchitecture,
} from './avsr-cost';

/** vsr_trlrs3vox2_base.pth's sizes, as the importer reports them (tools/export/talkie_avsr/model.py's defaults) */
const FULL: AvsrArchitecture = {
  odim: 5049,
  adim: 768,
  eunits: 3072,
  elayers: 12,
  cnn_module_kernel: 31,
  macaron_style: true,
  use_cnn_module: true,
  rel_pos_type: 'latest',
  ddim: 768,
  dunits: 3072,
  dlayers: 6,
  proj_decoder: false,
  frontend_channels: 64,
};

describe('the Auto-AVSR cost estimate', () => {
  it('counts a decoder step as 6 layers of (4·d² + 2·d² + 2·d·ff) plus d·V, and the attention over history and memory', () => {
    const d = 768;
    const matrices = 6 * (4 * d * d + 2 * d * d + 2 * d * 3072) + d * 5049;
    expect(decoderMacsPerHypothesisStep(FULL, 0, 0)).toBe(matrices);
    expect(matrices / 1e6).toBeCloseTo(53.4, 1); // the ~54M MACs per hypothesis-step of the row's note
    // each key, of the prefix or of the memory, costs a dot product and a weighted sum per layer
    expect(decoderMacsPerHypothesisStep(FULL, 10, 75) - matrices).toBe(6 * 2 * (10 + 75) * d);
  });

  it('puts 40 hypotheses for 75 steps at about 160 GMAC, with the memory graph once', () => {
    const full = Array.from({ length: 75 }, () => 40);
    const macs = searchDecoderMacs(FULL, 75, full);
    expect(macs / 1e9).toBeGreaterThan(160);
    expect(macs / 1e9).toBeLessThan(166);
    expect(decoderMemoryMacs(FULL, 75)).toBe(6 * 2 * 75 * 768 * 768);
    // the first step scores sos alone: one hypothesis, one row of history
    expect(searchDecoderMacs(FULL, 75, [1])).toBe(decoderMemoryMacs(FULL, 75) + decoderMacsPerHypothesisStep(FULL, 1, 75));
  });

  it("follows ResNet-18's shapes from 88×88 frames: 44×44 after the stem, 22, 11, 6, 3 in the stages", () => {
    const stem = 64 * 5 * 7 * 7 * 44 * 44;
    const stage = (inp: number, p: number, r: number, down: boolean) => (inp * p * 9 + 3 * p * p * 9 + (down ? inp * p : 0)) * r * r;
    const trunk = stage(64, 64, 22, false) + stage(64, 128, 11, true) + stage(128, 256, 6, true) + stage(256, 512, 3, true);
    expect(frontendMacsPerFrame(FULL, 88, 88)).toBe(stem + trunk + 512 * 768);
    expect(frontendMacsPerFrame(FULL, 88, 88) / 1e6).toBeCloseTo(316.5, 0);
  });

  it('puts the encoder over 75 frames at about 37 GMAC, the front-end two thirds of it', () => {
    const total = encoderMacs(FULL, 75, 88, 88);
    expect(total / 1e9).toBeGreaterThan(35);
    expect(total / 1e9).toBeLessThan(40);
    expect((75 * frontendMacsPerFrame(FULL, 88, 88)) / total).toBeCloseTo(0.63, 1);
    // legacy positions project T rows instead of 2T − 1; no convolution module drops its three products
    expect(conformerMacs(FULL, 75) - conformerMacs({ ...FULL, rel_pos_type: 'legacy' }, 75)).toBe(12 * (74 * 768 * 768 + 75 * 74 * 768));
    expect(conformerMacs(FULL, 75) - conformerMacs({ ...FULL, use_cnn_module: false }, 75)).toBe(12 * 75 * (3 * 768 * 768 + 768 * 31));
  });

  it('reads the sizes from import-report.json and refuses a report without them', () => {
    expect(parseArchitecture({ architecture: { ...FULL, aheads: 12, relu_type: 'swish' } })).toMatchObject(FULL);
    expect(() => parseArchitecture({})).toThrow(/no architecture/);
    expect(() => parseArchitecture({ architecture: { ...FULL, dlayers: '6' } })).toThrow(/dlayers/);
    expect(() => parseArchitecture({ architecture: { ...FULL, proj_decoder: undefined } })).toThrow(/proj_decoder/);
  });
});

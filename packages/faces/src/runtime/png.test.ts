import { decodePng, encodePng } from './png';

describe('PNG codec', () => {
  it('round-trips grey, RGB and RGBA images', () => {
    for (const channels of [1, 3, 4] as const) {
      const data = Uint8Array.from({ length: 7 * 5 * channels }, (_, i) => (i * 37) % 256);
      const back = decodePng(encodePng({ width: 7, height: 5, channels, data }));
      expect(back).toEqual({ width: 7, height: 5, channels, data });
    }
  });
});

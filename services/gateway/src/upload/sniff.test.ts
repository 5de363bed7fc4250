import { execFileSync } from 'node:child_process';
import { resolveFfmpeg } from '@talkie/media';
import { sniffContainer } from './sniff';

/**
 * The magic-byte sniff on the first bytes of files the real ffmpeg writes: each container is
 * recognised as its own family, and the MPEG formats that are not program streams are not. (A GRID
 * corpus clip goes through the whole upload in test/mpeg-ps-upload.e2e.test.ts.)
 */
const head = async (format: string, codec: string): Promise<Buffer> => {
  const { ffmpeg } = await resolveFfmpeg();
  // MP4/MOV to a pipe need the fragmented layout; the first box is still ftyp
  const fragmented = format === 'mp4' || format === 'mov' ? ['-movflags', 'frag_keyframe+empty_moov'] : [];
  return execFileSync(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=s=64x48:r=25:d=0.4', '-c:v', codec, ...fragmented, '-f', format, 'pipe:1']).subarray(0, 64);
};

describe('sniffContainer', () => {
  it.each([
    ['mp4', 'libx264', 'isobmff'],
    ['mov', 'libx264', 'isobmff'],
    ['matroska', 'libx264', 'matroska'],
    ['webm', 'libvpx-vp9', 'matroska'],
    ['avi', 'mpeg4', 'avi'],
    ['mpeg', 'mpeg1video', 'mpeg-ps'], // an MPEG-1 system stream (pack header 0010…)
    ['vob', 'mpeg2video', 'mpeg-ps'], // an MPEG-2 program stream (pack header 01…)
  ])('knows ffmpeg -f %s (%s) as %s', async (format, codec, family) => {
    expect(sniffContainer(await head(format, codec))).toBe(family);
  });

  it('refuses MPEG transport streams and raw MPEG video elementary streams', async () => {
    expect(sniffContainer(await head('mpegts', 'mpeg2video'))).toBeUndefined(); // 0x47 sync bytes
    expect(sniffContainer(await head('mpeg1video', 'mpeg1video'))).toBeUndefined(); // 00 00 01 B3, no pack
  });

  it('refuses a pack start code whose next byte is neither MPEG-1 nor MPEG-2', () => {
    const pack = (layer: number) => Buffer.concat([Buffer.from([0, 0, 1, 0xba, layer]), Buffer.alloc(11)]);
    expect(sniffContainer(pack(0x21))).toBe('mpeg-ps');
    expect(sniffContainer(pack(0x44))).toBe('mpeg-ps');
    for (const layer of [0x00, 0x10, 0x30, 0x80, 0xff]) expect([layer, sniffContainer(pack(layer))]).toEqual([layer, undefined]);
    expect(sniffContainer(pack(0x21).subarray(0, 11))).toBeUndefined(); // too short to tell
  });
});

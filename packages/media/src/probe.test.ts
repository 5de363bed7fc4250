import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ErrorCode } from '@talkie/contracts';
import { resolveFfmpeg, type FfmpegBinaries } from './binaries';
import { parseRate, probeVideo } from './probe';
import { rejection } from './media.testing';

/** Videos made here with the real ffmpeg: a grey FFV1 clip from raw frames, and an audio-only file. */
let bins: FfmpegBinaries;
let dir: string;

const ffmpeg = (args: string[], input?: Buffer) => execFileSync(bins.ffmpeg, ['-v', 'error', '-y', ...args], { input });


beforeAll(async () => {
  bins = await resolveFfmpeg();
  dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-probe-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('probeVideo', () => {
  it('reads size, frame rate, duration and codec of a 176×144, 10 fps, 2 s clip', async () => {
    const file = path.join(dir, 'clip.mkv');
    const frames = Buffer.alloc(176 * 144 * 20);
    for (let i = 0; i < 20; i++) frames.fill(10 * i, i * 176 * 144, (i + 1) * 176 * 144);
    ffmpeg(['-f', 'rawvideo', '-pix_fmt', 'gray', '-s', '176x144', '-r', '10', '-i', 'pipe:0', '-c:v', 'ffv1', file], frames);

    const probe = await probeVideo(file, { ffprobe: bins.ffprobe });
    expect(probe).toMatchObject({ width: 176, height: 144, fps: 10, codec: 'ffv1', video_streams: 1, streams: 1 });
    expect(probe.format).toContain('matroska');
    expect(probe.duration_s).toBeCloseTo(2, 1);
  });

  it('reads an NTSC rate as a fraction (30000/1001) and counts audio streams beside the video', async () => {
    const file = path.join(dir, 'ntsc.mp4');
    ffmpeg([
      '-f', 'lavfi', '-i', 'color=c=gray:s=64x48:r=30000/1001:d=1',
      '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1',
      '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', file,
    ]);
    const probe = await probeVideo(file, { ffprobe: bins.ffprobe });
    expect(probe).toMatchObject({ width: 64, height: 48, codec: 'h264', video_streams: 1, streams: 2 });
    expect(probe.fps).toBeCloseTo(29.97, 2);
    expect(probe.format).toContain('mp4');
    expect(probe.duration_s).toBeGreaterThan(0.9);
    expect(probe.duration_s).toBeLessThan(1.2);
  });

  it('rejects a text file with invalid_media', async () => {
    const file = path.join(dir, 'notes.mp4');
    await writeFile(file, 'not a video at all\n'.repeat(50));
    const err = await rejection(probeVideo(file, { ffprobe: bins.ffprobe }));
    expect(err.code).toBe<ErrorCode>('invalid_media');
    expect(err.retryable).toBe(false);
    expect(err.message).not.toContain(dir); // client-safe message, no paths
  });

  it('rejects a missing file with invalid_media', async () => {
    const err = await rejection(probeVideo(path.join(dir, 'absent.mp4'), { ffprobe: bins.ffprobe }));
    expect(err.code).toBe<ErrorCode>('invalid_media');
  });

  it('rejects an audio-only file in an allowed container with no_video_stream', async () => {
    const file = path.join(dir, 'tone.mka');
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=0.5', '-f', 'matroska', file]);
    const err = await rejection(probeVideo(file, { ffprobe: bins.ffprobe }));
    expect(err.code).toBe<ErrorCode>('no_video_stream');
  });

  it('refuses containers outside the demuxer allow-list (WAV, HLS, ffconcat) whatever their name', async () => {
    const wav = path.join(dir, 'tone.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=0.5', '-f', 'wav', wav]);
    expect((await rejection(probeVideo(wav, { ffprobe: bins.ffprobe }))).code).toBe<ErrorCode>('invalid_media');
    const concat = path.join(dir, 'list.mp4');
    await writeFile(concat, `ffconcat version 1.0\nfile ${wav}\n`);
    expect((await rejection(probeVideo(concat, { ffprobe: bins.ffprobe }))).code).toBe<ErrorCode>('invalid_media');
  });

  it('kills ffprobe at timeoutMs and rejects with a retryable timeout', async () => {
    const file = path.join(dir, 'slow.mkv');
    ffmpeg(['-f', 'lavfi', '-i', 'color=c=gray:s=64x48:r=10:d=1', '-c:v', 'ffv1', file]);
    const err = await rejection(probeVideo(file, { ffprobe: bins.ffprobe, timeoutMs: 1 }));
    expect(err.code).toBe<ErrorCode>('timeout');
    expect(err.retryable).toBe(true);
  });
});

describe('parseRate', () => {
  it.each([
    ['25/1', 25],
    ['30000/1001', 29.97002997],
    ['24000/1001', 23.976023976],
    ['0/0', 0],
    ['abc/1', 0],
    ['', 0],
    [undefined, 0],
  ])('parses %j as %d', (rate, expected) => {
    expect(parseRate(rate)).toBeCloseTo(expected, 8);
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ErrorCode } from '@talkie/contracts';
import { resolveFfmpeg, type FfmpegBinaries } from './binaries';
import { frameCountOf, parseRate, probeVideo, type ProbeFields } from './probe';
import { checkProbe, DEFAULT_MEDIA_LIMITS } from './probe-policy';
import { encodeTestVideo, rejection, withDeclaredDuration } from './media.testing';

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

/**
 * MAX_FRAMES for containers that keep no frame count. Matroska and WebM have none (ffprobe prints
 * nb_frames=N/A), which read as 0 let a 110-s, 1000-fps .mkv through a limit that refuses the same
 * frames as .mp4. Small files, high declared rates, against a limit of 1,000 frames.
 */
describe('frame counts where the container keeps none', () => {
  const limits = { ...DEFAULT_MEDIA_LIMITS, maxFrames: 1000 };
  const refusal = (run: () => void) => {
    try {
      run();
    } catch (err) {
      return (err as { code?: string }).code;
    }
    return 'accepted';
  };

  it.each(['mkv', 'webm', 'mp4'])('counts 1000 fps × 3 s in .%s as 3,000 frames and refuses it with too_many_frames', async (ext) => {
    const file = path.join(dir, `1000fps-3s.${ext}`);
    encodeTestVideo(bins.ffmpeg, file, { fps: 1000, seconds: 3 });
    const probe = await probeVideo(file, { ffprobe: bins.ffprobe });
    expect(probe.frames).toBe(3000);
    expect(refusal(() => checkProbe(probe, limits))).toBe<ErrorCode>('too_many_frames');
  });

  it('estimates an ordinary 25 fps × 3 s .mkv at 75 frames, within the limit', async () => {
    const file = path.join(dir, '25fps-3s.mkv');
    encodeTestVideo(bins.ffmpeg, file, { fps: 25, seconds: 3 });
    const probe = await probeVideo(file, { ffprobe: bins.ffprobe });
    expect(probe.frames).toBe(75);
    expect(refusal(() => checkProbe(probe, limits))).toBe('accepted');
  });

  it('estimates a variable-rate .mkv (30 fps, every third frame late) from its rate and duration', async () => {
    const file = path.join(dir, 'vfr-30fps.mkv');
    encodeTestVideo(bins.ffmpeg, file, { fps: 30, seconds: 3, setpts: 'N/30/TB+if(mod(N,3),0,0.01/TB)' });
    const probe = await probeVideo(file, { ffprobe: bins.ffprobe });
    expect(probe.frames).toBeGreaterThanOrEqual(90);
    expect(probe.frames).toBeLessThanOrEqual(92);
  });

  // What a bounded probe cannot know; the decoder's source-frame cap catches these (decode.test.ts).
  it('believes a header that says 1 s of a 3-s, 1000-fps .mkv (1,000 frames), and a .mkv with no duration at all (0)', async () => {
    const real = path.join(dir, '1000fps-3s-real.mkv');
    encodeTestVideo(bins.ffmpeg, real, { fps: 1000, seconds: 3 });
    const lying = path.join(dir, '1000fps-3s-says-1s.mkv');
    await writeFile(lying, withDeclaredDuration(await readFile(real), 1));
    expect(await probeVideo(lying, { ffprobe: bins.ffprobe })).toMatchObject({ duration_s: 1, frames: 1000 });

    const piped = path.join(dir, '1000fps-3s-piped.mkv');
    encodeTestVideo(bins.ffmpeg, piped, { fps: 1000, seconds: 3, piped: true });
    expect(await probeVideo(piped, { ffprobe: bins.ffprobe })).toMatchObject({ duration_s: 0, frames: 0 });
  });
});

describe('frameCountOf', () => {
  const fields = (video: NonNullable<ProbeFields['video']>, duration?: string): ProbeFields => ({ duration, streams: 1, video_streams: 1, video });

  it("takes the container's count where it keeps one, even beside a higher rate (a variable-rate MP4)", () => {
    expect(frameCountOf(fields({ nb_frames: '300', r_frame_rate: '120/1', avg_frame_rate: '30/1' }, '10.000000'))).toBe(300);
  });

  it('estimates duration × the higher of r_frame_rate and avg_frame_rate without one', () => {
    expect(frameCountOf(fields({ r_frame_rate: '1000/1', avg_frame_rate: '0/0' }, '3.000000'))).toBe(3000);
    expect(frameCountOf(fields({ r_frame_rate: '25/1', avg_frame_rate: '50/1' }, '2.000000'))).toBe(100);
    expect(frameCountOf(fields({ r_frame_rate: '30000/1001', avg_frame_rate: '30000/1001' }, '3.003000'))).toBe(90);
    expect(frameCountOf(fields({ nb_frames: 'N/A', r_frame_rate: '25/1' }, '3.000000'))).toBe(75);
  });

  it("uses the longer of the container's and the stream's durations", () => {
    expect(frameCountOf(fields({ r_frame_rate: '100/1', duration: '20.000000' }, '1.000000'))).toBe(2000);
    expect(frameCountOf(fields({ r_frame_rate: '100/1', duration: '1.000000' }, '20.000000'))).toBe(2000);
    expect(frameCountOf(fields({ r_frame_rate: '100/1', duration: '5.000000' }))).toBe(500);
  });

  it('is 0 where neither a count nor a duration and a rate are known', () => {
    expect(frameCountOf(fields({ r_frame_rate: '1000/1' }))).toBe(0);
    expect(frameCountOf(fields({ r_frame_rate: '1000/1' }, 'N/A'))).toBe(0);
    expect(frameCountOf(fields({ r_frame_rate: '0/0', avg_frame_rate: '0/0' }, '10.000000'))).toBe(0);
  });
});

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TalkieError, type ErrorCode } from '@talkie/contracts';
import { resolveFfmpeg, type FfmpegBinaries } from './binaries';
import { probeVideo } from './probe';
import { ProberUnavailableError, ResidentProber } from './resident-prober';
import { createVideoProber, residentProberPath, type VideoProber } from './video-prober';
import { encodeTestVideo, rejection, withDeclaredDuration } from './media.testing';

/*
 * The resident prober (native/talkie-probe.c, compiled by `npm run build` where cc and
 * libavformat-dev exist; .ci/run installs them and requires it) against ffprobe on files made here
 * with the real ffmpeg.
 */
const binary = residentProberPath();
const built = existsSync(binary);
if (!built) {
  // Loud, not silent: these cases need the helper; CI builds it (TALKIE_REQUIRE_PROBER=1).
  console.warn(`resident-prober tests skipped: ${binary} is not built (needs cc and libavformat-dev; see packages/media/scripts/build-prober.mjs)`);
}
const describeBuilt = built ? describe : describe.skip;

let bins: FfmpegBinaries;
let dir: string;
const ffmpeg = (args: string[]) => execFileSync(bins.ffmpeg, ['-v', 'error', '-y', ...args]);


/** `n` FIFOs that no one ever writes: each probe of one stalls until its timer ends it. */
function stalledInputs(name: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const fifo = path.join(dir, `${name}-${i}.mp4`);
    execFileSync('mkfifo', [fifo]);
    return fifo;
  });
}

beforeAll(async () => {
  bins = await resolveFfmpeg();
  dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-resident-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describeBuilt('ResidentProber', () => {
  let prober: ResidentProber;
  beforeAll(async () => {
    prober = await ResidentProber.start(binary);
  });
  afterAll(() => prober.close());

  it('was linked against the ffmpeg release that ffprobe belongs to (where both are the system ones)', () => {
    if (bins.source === 'system') expect(prober.ffmpegVersion).toBe(bins.version);
    else expect(prober.ffmpegVersion).toMatch(/\S/);
  });

  const clips: Array<[string, string[]]> = [
    ['h264.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p']],
    ['ntsc-with-audio.mp4', ['-f', 'lavfi', '-i', 'color=c=gray:s=64x48:r=30000/1001:d=1', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest']],
    ['ffv1.mkv', ['-f', 'lavfi', '-i', 'testsrc=size=176x144:rate=10', '-t', '2', '-c:v', 'ffv1']],
    ['vp9.webm', ['-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=15', '-t', '1', '-c:v', 'libvpx-vp9', '-b:v', '100k']],
    ['mjpeg.avi', ['-f', 'lavfi', '-i', 'testsrc=size=128x96:rate=12', '-t', '1', '-c:v', 'mjpeg']],
    ['two-videos.mkv', ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=5', '-f', 'lavfi', '-i', 'testsrc=size=32x24:rate=5', '-t', '1', '-map', '0', '-map', '1', '-c:v', 'ffv1']],
    ['moov-at-start.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=80x60:rate=25', '-t', '1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart']],
    // MPEG-PS keeps no frame count either: the estimate from duration × rate, the same both ways
    ['mpeg1-system.mpg', ['-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=25', '-t', '2', '-c:v', 'mpeg1video', '-f', 'mpeg']],
    ['mpeg2-program.mpg', ['-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=25', '-t', '2', '-c:v', 'mpeg2video', '-f', 'vob']],
  ];

  it.each(clips)('reads %s exactly as ffprobe does', async (name, args) => {
    const file = path.join(dir, name);
    ffmpeg([...args, file]);
    const [resident, reference] = await Promise.all([prober.probe(file), probeVideo(file, { ffprobe: bins.ffprobe })]);
    expect(resident).toEqual(reference);
    expect(resident.width).toBeGreaterThan(0);
  });

  // Matroska/WebM keep no frame count: both probers must give the same estimate, or the limit
  // would hold under one and not the other (frameCountOf in probe.ts).
  it('estimates the frames of Matroska and WebM files without a count exactly as the ffprobe path does', async () => {
    const files: Array<[string, number]> = [];
    for (const ext of ['mkv', 'webm']) {
      const file = path.join(dir, `1000fps-3s.${ext}`);
      encodeTestVideo(bins.ffmpeg, file, { fps: 1000, seconds: 3 });
      files.push([file, 3000]);
    }
    const lying = path.join(dir, '1000fps-3s-says-1s.mkv');
    await writeFile(lying, withDeclaredDuration(await readFile(files[0][0]), 1));
    files.push([lying, 1000]);
    const piped = path.join(dir, '1000fps-3s-piped.mkv');
    encodeTestVideo(bins.ffmpeg, piped, { fps: 1000, seconds: 3, piped: true });
    files.push([piped, 0]);
    for (const [file, frames] of files) {
      const [resident, reference] = await Promise.all([prober.probe(file), probeVideo(file, { ffprobe: bins.ffprobe })]);
      expect([path.basename(file), resident.frames]).toEqual([path.basename(file), frames]);
      expect(resident).toEqual(reference);
    }
  });

  it('answers many probes at once, each with its own file', async () => {
    const sizes = Array.from({ length: 12 }, (_, i) => [32 + 16 * i, 24 + 8 * i] as const);
    const files = sizes.map(([w, h]) => {
      const file = path.join(dir, `size-${w}x${h}.mkv`);
      ffmpeg(['-f', 'lavfi', '-i', `testsrc=size=${w}x${h}:rate=5`, '-t', '0.4', '-c:v', 'ffv1', file]);
      return file;
    });
    const probes = await Promise.all(files.map((f) => prober.probe(f)));
    expect(probes.map((p) => [p.width, p.height])).toEqual(sizes.map(([w, h]) => [w, h]));
  });

  it('refuses what ffprobe refuses, with the same codes', async () => {
    const text = path.join(dir, 'notes.mp4');
    await writeFile(text, 'not a video at all\n'.repeat(50));
    const wav = path.join(dir, 'tone.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=0.5', '-f', 'wav', wav]);
    const concat = path.join(dir, 'list.mp4');
    await writeFile(concat, `ffconcat version 1.0\nfile ${wav}\n`);
    // a demuxer outside the allow-list (MPEG-PS is on it now; transport streams are not)
    const mpegTs = path.join(dir, 'transport.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=25', '-t', '0.5', '-c:v', 'mpeg2video', '-f', 'mpegts', mpegTs]);
    const audioOnly = path.join(dir, 'tone.mka');
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=0.5', '-f', 'matroska', audioOnly]);
    const cases: Array<[string, ErrorCode]> = [
      [text, 'invalid_media'],
      [wav, 'invalid_media'],
      [concat, 'invalid_media'],
      [mpegTs, 'invalid_media'],
      [path.join(dir, 'absent.mp4'), 'invalid_media'],
      [audioOnly, 'no_video_stream'],
    ];
    for (const [file, code] of cases) {
      const [resident, reference] = await Promise.all([rejection(prober.probe(file)), rejection(probeVideo(file, { ffprobe: bins.ffprobe }))]);
      expect([path.basename(file), (resident as TalkieError).code]).toEqual([path.basename(file), code]);
      expect((reference as TalkieError).code).toBe(code);
      expect(resident.message).not.toContain(dir); // client-safe: no paths
    }
  });

  it('ends a probe that stalls at its time limit (a FIFO nobody writes) and goes on with the next', async () => {
    const fifo = path.join(dir, 'stalled.mp4');
    execFileSync('mkfifo', [fifo]);
    const good = path.join(dir, 'after-stall.mkv');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=48x32:rate=5', '-t', '0.4', '-c:v', 'ffv1', good]);
    const stalled = rejection(prober.probe(fifo, 300));
    // Other probes are not held up behind the stalled one.
    expect((await prober.probe(good)).width).toBe(48);
    const err = (await stalled) as TalkieError;
    expect(err).toBeInstanceOf(TalkieError);
    expect(err.code).toBe<ErrorCode>('timeout');
    expect(err.retryable).toBe(true);
    expect((await prober.probe(good)).height).toBe(32);
  });

  it('runs at most maxChildren probes at once, however many requests arrive together', async () => {
    const limited = await ResidentProber.start(binary, { maxChildren: 2 });
    try {
      const fifos = stalledInputs('wave', 5);
      // five requests written back to back: the helper reads them in one go
      const pending = fifos.map((f) => rejection(limited.probe(f, 400)));
      const children = () => {
        try {
          return execFileSync('pgrep', ['-P', String(limited.pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length;
        } catch {
          return 0; // pgrep exits 1 when there are none
        }
      };
      let most = 0;
      let seen = 0;
      const until = Date.now() + 5_000;
      while (seen < 5 && Date.now() < until) {
        most = Math.max(most, children());
        seen = (await Promise.all(pending.map((p) => Promise.race([p.then(() => 1), new Promise<number>((r) => setTimeout(() => r(0), 0))])))).reduce((a, b) => a + b, 0);
        await new Promise((r) => setTimeout(r, 20));
      }
      const codes = (await Promise.all(pending)).map((e) => (e as TalkieError).code);
      expect(codes).toEqual(['timeout', 'timeout', 'timeout', 'timeout', 'timeout']);
      expect(most).toBe(2);
    } finally {
      await limited.close();
    }
  });

  it('starts the clock of a request that waits for a free child when the child starts, not before', async () => {
    // one child at a time, four probes of 1 s: the last starts ~3 s in, after its wedge limit
    // (1 s + 2 s) would have run out had it counted from the request; the helper is healthy
    const single = await ResidentProber.start(binary, { maxChildren: 1 });
    try {
      const fifos = stalledInputs('queued', 4);
      const errors = await Promise.all(fifos.map((f) => rejection(single.probe(f, 1_000))));
      expect(errors.map((e) => e.code)).toEqual(['timeout', 'timeout', 'timeout', 'timeout']);
      expect(single.available).toBe(true);
    } finally {
      await single.close();
    }
  }, 15_000);

  it('refuses a path that would forge a second request line', async () => {
    const err = (await rejection(prober.probe(`${dir}/a.mp4\n1 1000 /etc/passwd`))) as TalkieError;
    expect(err.code).toBe<ErrorCode>('invalid_media');
  });
});

describeBuilt('createVideoProber', () => {
  const probers: VideoProber[] = [];
  afterAll(() => Promise.all(probers.map((p) => p.close())));
  const make = async (o: Partial<Parameters<typeof createVideoProber>[0]>, log: string[] = []) => {
    const p = await createVideoProber({ binaries: bins, log: (level, m) => log.push(`${level}: ${m}`), ...o });
    probers.push(p);
    return p;
  };

  it('takes the resident prober by default and says so', async () => {
    const log: string[] = [];
    const p = await make({}, log);
    // auto serves the system's ffmpeg only (an explicit or npm-shipped one: ffprobe, as below)
    expect(p.kind).toBe(bins.source === 'system' ? 'resident' : 'ffprobe');
    if (bins.source !== 'system') return;
    expect(log.join('\n')).toMatch(/resident prober/);
  });

  it('falls back to ffprobe, saying why, when the helper is absent, built for another ffmpeg, or FFPROBE_PATH is set', async () => {
    const absent: string[] = [];
    expect((await make({ residentPath: path.join(dir, 'no-such-helper') }, absent)).kind).toBe('ffprobe');
    expect(absent.join('\n')).toMatch(/not built/);
    const other: string[] = [];
    expect((await make({ binaries: { ...bins, version: '99.0-elsewhere' } }, other)).kind).toBe('ffprobe');
    expect(other.join('\n')).toMatch(/99\.0-elsewhere/);
    expect((await make({ mode: 'ffprobe' })).kind).toBe('ffprobe');
    // an explicit FFPROBE_PATH is the operator's choice of parser: auto keeps to it
    const chosen: string[] = [];
    expect((await make({ binaries: { ...bins, source: 'env' } }, chosen)).kind).toBe('ffprobe');
    expect(chosen.join('\n')).toMatch(/FFPROBE_PATH/);
  });

  it('refuses to start with PROBER=resident when the helper is absent', async () => {
    await expect(createVideoProber({ binaries: bins, mode: 'resident', residentPath: path.join(dir, 'no-such-helper') })).rejects.toThrow(/not there/);
  });

  it('keeps answering through ffprobe when the helper is killed, then starts a new one', async () => {
    const file = path.join(dir, 'survivor.mkv');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=5', '-t', '0.4', '-c:v', 'ffv1', file]);
    const log: string[] = [];
    const p = await make({ mode: 'resident' }, log);
    const helperPids = () => execFileSync('pgrep', ['-f', '-P', String(process.pid), 'talkie-probe'], { encoding: 'utf8' }).trim().split('\n').map(Number);
    const before = new Set(helperPids());
    expect((await p.probe(file)).width).toBe(64);
    for (const pid of before) process.kill(pid, 'SIGKILL');
    // The probe after the loss is answered (by ffprobe) while a new helper starts.
    expect((await p.probe(file)).width).toBe(64);
    const deadline = Date.now() + 10_000;
    while (!log.some((l) => l.includes('restarted')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      await p.probe(file);
    }
    expect(log.join('\n')).toMatch(/resident prober restarted/);
    const after = helperPids().filter((pid) => !before.has(pid));
    expect(after.length).toBeGreaterThan(0);
    expect((await p.probe(file)).height).toBe(48);
  });

  it('reports a helper that went away as unavailable, not as a bad file', async () => {
    const r = await ResidentProber.start(binary);
    const fifo = path.join(dir, 'held.mp4');
    execFileSync('mkfifo', [fifo]);
    const pending = rejection(r.probe(fifo, 10_000), ProberUnavailableError);
    process.kill(r.pid, 'SIGKILL');
    expect(await pending).toBeInstanceOf(ProberUnavailableError);
    expect(r.available).toBe(false);
    await r.close();
  });
});

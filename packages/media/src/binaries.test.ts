/**
 * Finding ffmpeg and the start-up gate on its version, with stand-in ffmpeg builds: small shell
 * scripts that print what an old release or a git snapshot prints for `-version`.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkFfmpegVersion, ffmpegVersion, resolveCheckedFfmpeg, resolveFfmpeg } from './binaries';

let dir: string;

/** An executable that answers `-version` like the ffmpeg build whose first line is `firstLine`. */
function standIn(name: string, firstLine: string): string {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    ['#!/bin/sh', `echo "${firstLine}"`, 'echo "built with gcc 10 (Debian 10.2.1-6)"', 'echo "libavutil      56. 70.100 / 56. 70.100"', ''].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'talkie-ffmpeg-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ffmpeg version reading', () => {
  it.each([
    ['ffmpeg version 4.4.2 Copyright (c) 2000-2021 the FFmpeg developers', '4.4.2', 4],
    ['ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers', '5.1.9-0+deb12u1', 5],
    ['ffmpeg version n6.1 Copyright (c) 2000-2023 the FFmpeg developers', 'n6.1', 6],
    ['ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2018 the FFmpeg developers', 'N-47683-g0e8eb07980-static', 0],
  ])('reads %j', async (line, version, major) => {
    expect(await ffmpegVersion(standIn(`ffmpeg-${major}-${version.length}`, line))).toEqual({ version, major });
  });
});

describe('checkFfmpegVersion (the worker start-up gate)', () => {
  const bin = (version: string, major: number) => ({ ffmpeg: '/opt/ffmpeg/bin/ffmpeg', version, major });

  it('accepts builds at or above the minimum', () => {
    expect(checkFfmpegVersion(bin('5.1.9-0+deb12u1', 5), 5, false).level).toBe('ok');
    expect(checkFfmpegVersion(bin('n7.1', 7), 5, false).level).toBe('ok');
  });

  it('refuses an older build, naming the version, the minimum and the override', () => {
    const check = checkFfmpegVersion(bin('4.4.2', 4), 5, false);
    expect(check.level).toBe('error');
    expect(check.message).toMatch(/ffmpeg 4\.4\.2 \(\/opt\/ffmpeg\/bin\/ffmpeg\) is older than the minimum major version 5/);
    expect(check.message).toMatch(/FFMPEG_ALLOW_OLD=true/);
  });

  it('follows the configured minimum', () => {
    expect(checkFfmpegVersion(bin('5.1.9-0+deb12u1', 5), 6, false).level).toBe('error');
    expect(checkFfmpegVersion(bin('4.4.2', 4), 4, false).level).toBe('ok');
  });

  it('counts a build without a release number (git snapshot, major 0) as older', () => {
    const check = checkFfmpegVersion(bin('N-47683-g0e8eb07980-static', 0), 5, false);
    expect(check.level).toBe('error');
    expect(check.message).toMatch(/no release version number/);
    expect(checkFfmpegVersion(bin('N-47683-g0e8eb07980-static', 0), 1, false).level).toBe('error');
  });

  it('lets FFMPEG_ALLOW_OLD through with a warning', () => {
    const check = checkFfmpegVersion(bin('N-47683-g0e8eb07980-static', 0), 5, true);
    expect(check.level).toBe('warning');
    expect(check.message).toMatch(/running it anyway because FFMPEG_ALLOW_OLD=true/);
  });
});

describe('resolveFfmpeg + checkFfmpegVersion', () => {
  it('refuses a stand-in ffmpeg 4.4.2 given by FFMPEG_PATH/FFPROBE_PATH, and lets the override through with a warning', async () => {
    const old = standIn('ffmpeg-4.4.2', 'ffmpeg version 4.4.2 Copyright (c) 2000-2021 the FFmpeg developers');
    const binaries = await resolveFfmpeg({ FFMPEG_PATH: old, FFPROBE_PATH: old });
    expect(binaries).toMatchObject({ ffmpeg: old, ffprobe: old, source: 'env', version: '4.4.2', major: 4 });

    const refused = checkFfmpegVersion(binaries, 5, false);
    expect(refused.level).toBe('error');
    expect(refused.message).toContain(`ffmpeg 4.4.2 (${old}) is older than the minimum major version 5`);

    expect(checkFfmpegVersion(binaries, 5, true).level).toBe('warning');
  });

  it('refuses a stand-in git snapshot build unless overridden', async () => {
    const snapshot = standIn('ffmpeg-snapshot', 'ffmpeg version N-113000-g1234abcd56 Copyright (c) 2000-2024 the FFmpeg developers');
    const binaries = await resolveFfmpeg({ FFMPEG_PATH: snapshot, FFPROBE_PATH: snapshot });
    expect(binaries.major).toBe(0);
    expect(checkFfmpegVersion(binaries, 5, false).level).toBe('error');
    expect(checkFfmpegVersion(binaries, 5, true).level).toBe('warning');
  });

  it('passes the real /usr/bin/ffmpeg (Debian 12: 5.1; CI installs it)', async () => {
    expect(existsSync('/usr/bin/ffmpeg') && existsSync('/usr/bin/ffprobe')).toBe(true);
    const binaries = await resolveFfmpeg({ FFMPEG_PATH: '/usr/bin/ffmpeg', FFPROBE_PATH: '/usr/bin/ffprobe' });
    expect(binaries.major).toBeGreaterThanOrEqual(5);
    expect(checkFfmpegVersion(binaries, 5, false)).toEqual({ level: 'ok', message: expect.stringContaining(binaries.version) });
  });
});

/** The one start-up gate both the gateway (which probes uploads) and the worker (which decodes them) run. */
describe('resolveCheckedFfmpeg (the start-up gate of the gateway and the worker)', () => {
  const warnings = () => {
    const seen: Array<[string, Record<string, unknown> | undefined]> = [];
    return { seen, warn: (message: string, fields?: Record<string, unknown>) => void seen.push([message, fields]) };
  };

  it('refuses a stand-in ffmpeg 4.4.2, naming it, the minimum and the override', async () => {
    const old = standIn('ffmpeg-4.4.2-gate', 'ffmpeg version 4.4.2 Copyright (c) 2000-2021 the FFmpeg developers');
    const { seen, warn } = warnings();
    const refusal = await resolveCheckedFfmpeg({ env: { FFMPEG_PATH: old, FFPROBE_PATH: old }, minMajor: 5, allowOld: false, warn }).then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(refusal).toContain(`ffmpeg 4.4.2 (${old}) is older than the minimum major version 5 (FFMPEG_MIN_MAJOR)`);
    expect(refusal).toContain('set FFMPEG_ALLOW_OLD=true');
    expect(seen).toEqual([]);
  });

  it('lets it through with FFMPEG_ALLOW_OLD, warning once with the version and the minimum', async () => {
    const old = standIn('ffmpeg-4.4.2-allowed', 'ffmpeg version 4.4.2 Copyright (c) 2000-2021 the FFmpeg developers');
    const { seen, warn } = warnings();
    const binaries = await resolveCheckedFfmpeg({ env: { FFMPEG_PATH: old, FFPROBE_PATH: old }, minMajor: 5, allowOld: true, warn });
    expect(binaries).toMatchObject({ ffmpeg: old, ffprobe: old, version: '4.4.2', major: 4 });
    expect(seen).toEqual([[expect.stringMatching(/running it anyway because FFMPEG_ALLOW_OLD=true/), { ffmpeg: '4.4.2', min_major: 5 }]]);
  });

  it('follows the configured minimum, and passes the real ffmpeg without a word', async () => {
    const env = { FFMPEG_PATH: '/usr/bin/ffmpeg', FFPROBE_PATH: '/usr/bin/ffprobe' };
    const { seen, warn } = warnings();
    await expect(resolveCheckedFfmpeg({ env, minMajor: 99, allowOld: false, warn })).rejects.toThrow(/is older than the minimum major version 99/);
    expect((await resolveCheckedFfmpeg({ env, minMajor: 5, allowOld: false, warn })).major).toBeGreaterThanOrEqual(5);
    expect(seen).toEqual([]);
  });
});

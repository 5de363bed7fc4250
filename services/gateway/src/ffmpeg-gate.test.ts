/**
 * The gateway process itself (services/gateway/dist/main.js, built by `npm run build`) against a
 * stand-in ffmpeg 4.4.2: the gateway parses every untrusted upload with ffprobe (or talkie-probe,
 * with the same libavformat), so it applies the worker's version gate at start, the same code
 * (`resolveCheckedFfmpeg` in @talkie/media): it refuses to start, before it connects to anything,
 * saying which version and how to override; with FFMPEG_ALLOW_OLD=true it starts with a warning.
 * The runs that get past the gate need Redis on 127.0.0.1:6379, as the other end-to-end tests do.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGatewayForConfig } from '../../../test/support/gateway-start';

let tmp: string;
let standIn: string;

/** The JSON log lines a run printed. */
const logs = (stdout: string) =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'talkie-gateway-ffmpeg-gate-'));
  standIn = path.join(tmp, 'ffmpeg-4.4.2');
  writeFileSync(standIn, '#!/bin/sh\necho "ffmpeg version 4.4.2 Copyright (c) 2000-2021 the FFmpeg developers"\necho "built with gcc 10 (Debian 10.2.1-6)"\n');
  chmodSync(standIn, 0o755);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the gateway’s ffmpeg version gate', () => {
  it('exits non-zero with a clear message naming the version and the override when FFMPEG_PATH/FFPROBE_PATH are an ffmpeg 4.4.2', async () => {
    const run = await startGatewayForConfig({ FFMPEG_PATH: standIn, FFPROBE_PATH: standIn });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^gateway: ffmpeg 4\.4\.2 .*is older than the minimum major version 5 \(FFMPEG_MIN_MAJOR\)/m);
    expect(run.stderr).toContain(standIn);
    expect(run.stderr).toContain('set FFMPEG_ALLOW_OLD=true');
    expect(run.stderr).not.toMatch(/\n\s+at /); // a message, no stack trace
    expect(run.stdout).not.toContain('gateway listening');
  });

  it('follows FFMPEG_MIN_MAJOR', async () => {
    const run = await startGatewayForConfig({ FFMPEG_PATH: '/usr/bin/ffmpeg', FFPROBE_PATH: '/usr/bin/ffprobe', FFMPEG_MIN_MAJOR: '99' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^gateway: ffmpeg \S+ .*is older than the minimum major version 99/m);
  });

  it('starts with a warning when FFMPEG_ALLOW_OLD=true', async () => {
    const run = await startGatewayForConfig({ FFMPEG_PATH: standIn, FFPROBE_PATH: standIn, FFMPEG_ALLOW_OLD: 'true', PROBER: 'ffprobe' });
    const lines = logs(run.stdout);
    const warning = lines.find((l) => /FFMPEG_ALLOW_OLD=true/.test(String(l.msg)));
    expect(warning).toMatchObject({ level: 40, ffmpeg: '4.4.2', min_major: 5 });
    expect(String(warning?.msg)).toMatch(/ffmpeg 4\.4\.2 .*older than the minimum major version 5.*running it anyway/);
    expect(lines.some((l) => String(l.msg).startsWith('gateway listening'))).toBe(true);
  });

  it('starts with the real ffmpeg and no ffmpeg warning', async () => {
    const run = await startGatewayForConfig({ FFMPEG_PATH: '/usr/bin/ffmpeg', FFPROBE_PATH: '/usr/bin/ffprobe' });
    const lines = logs(run.stdout);
    expect(lines.some((l) => String(l.msg).startsWith('gateway listening'))).toBe(true);
    expect(lines.some((l) => l.level === 40 && /FFMPEG/.test(String(l.msg)))).toBe(false);
  });
});

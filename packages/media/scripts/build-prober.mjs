#!/usr/bin/env node
// Compiles native/talkie-probe.c against the system's libavformat (see that file for why it exists).
// Optional: without a C compiler or libavformat's headers it says so and exits 0, and the services
// probe uploads with ffprobe instead. TALKIE_REQUIRE_PROBER=1 (CI, the images) makes that an error.
// Runs on every `npm run build` (turbo does not cache it: the headers can appear after the sources
// last changed); it recompiles only when the source, the flags or libavformat's version changed.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = path.join(here, '..', 'native', 'talkie-probe.c');
const outDir = path.join(here, '..', 'native', 'build');
const binary = path.join(outDir, 'talkie-probe');
const stamp = path.join(outDir, 'talkie-probe.stamp.json');
const required = process.env.TALKIE_REQUIRE_PROBER === '1';
const LIBS = ['libavformat', 'libavcodec', 'libavutil'];
// Hardening flags: the helper parses untrusted files.
const CFLAGS = ['-O2', '-std=c11', '-Wall', '-Wextra', '-Werror', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong', '-fPIE'];
const LDFLAGS = ['-pie', '-Wl,-z,relro,-z,now'];

function run(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function skip(why) {
  const message = `talkie-probe not built: ${why}. Uploads will be probed with ffprobe (one process per file, ~50-80 ms each).`;
  if (required) {
    console.error(`${message} TALKIE_REQUIRE_PROBER=1 makes this an error.`);
    process.exit(1);
  }
  console.log(message);
  process.exit(0);
}

const cc = process.env.CC || 'cc';
try {
  run(cc, ['--version']);
} catch {
  skip(`no C compiler (${cc})`);
}
let flags;
let versions;
try {
  flags = run('pkg-config', ['--cflags', '--libs', ...LIBS]).split(/\s+/).filter(Boolean);
  versions = run('pkg-config', ['--modversion', ...LIBS]).split(/\s+/).join(' ');
} catch {
  skip(`libavformat's development files are missing (pkg-config ${LIBS.join(' ')}; Debian: apt-get install pkg-config libavformat-dev)`);
}

const fingerprint = createHash('sha256')
  .update(readFileSync(source))
  .update(JSON.stringify({ cc, CFLAGS, LDFLAGS, flags, versions }))
  .digest('hex');
if (existsSync(binary) && existsSync(stamp)) {
  try {
    if (JSON.parse(readFileSync(stamp, 'utf8')).fingerprint === fingerprint) process.exit(0);
  } catch {
    // a damaged stamp: build again
  }
}

mkdirSync(outDir, { recursive: true });
const partial = `${binary}.partial`;
try {
  run(cc, [...CFLAGS, '-o', partial, source, ...LDFLAGS, ...flags]);
} catch (err) {
  rmSync(partial, { force: true });
  const detail = String(err.stderr || err.message).trim().split('\n').slice(0, 20).join('\n');
  // The source is ours: a compile error is a bug to see, never a silent fallback.
  console.error(`talkie-probe failed to compile:\n${detail}`);
  process.exit(1);
}
renameSync(partial, binary);
writeFileSync(stamp, `${JSON.stringify({ fingerprint, libs: versions }, null, 2)}\n`);
console.log(`talkie-probe built against ${LIBS.map((l, i) => `${l} ${versions.split(' ')[i]}`).join(', ')}`);

import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface MachineInfo {
  cpus: number;
  cpu_model: string;
  memory_bytes: number;
  os: string;
  node: string;
  ffmpeg: string;
  /** how uploads are probed in this run (set by run.ts) */
  prober?: string;
  load_average_at_start: number[];
}

export interface CommitInfo {
  commit: string;
  /** files that differ from the commit when the run started (the figures are of the tree, not only of the commit) */
  dirty_files: number;
}

function run(cmd: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
  } catch {
    return 'unknown';
  }
}

export function machineInfo(ffmpegPath: string): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? 'unknown',
    memory_bytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ffmpeg: (run(ffmpegPath, ['-hide_banner', '-version']).split('\n')[0] ?? 'unknown').replace(/ Copyright.*$/, ''),
    load_average_at_start: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** Read-only git queries: the commit measured, and whether the working tree differed from it. */
export function commitInfo(root: string): CommitInfo {
  const commit = run('git', ['rev-parse', 'HEAD'], root);
  const status = run('git', ['status', '--porcelain'], root);
  return { commit, dirty_files: status === 'unknown' || !status ? 0 : status.split('\n').length };
}

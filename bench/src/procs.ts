import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * Every process the benchmark starts goes through here, so that stopping it also stops what it
 * started (ffmpeg under a worker), and nothing outlives the run.
 *
 * The children stay in this process's session on purpose: Linux's scheduler autogroups put each
 * session in a group of its own that competes as one, so a child started with `detached: true`
 * (setsid) would escape the workers' `nice` relative to the gateway, which is exactly what the
 * isolation row measures. `npm start` keeps them in one session too.
 */
const running = new Set<ChildProcess>();

export interface Spawned {
  child: ChildProcess;
  name: string;
  logFile: string;
  stop(graceMs?: number): Promise<void>;
}

export function spawnNode(name: string, script: string, env: Record<string, string>, logFile: string): Spawned {
  const fd = openSync(logFile, 'a');
  // Output goes straight to a file: piping it through this process would cost the bench CPU.
  const child = spawn(process.execPath, [script], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return { child, name, logFile, stop: (graceMs = 5_000) => stopChild(child, graceMs) };
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Children, grandchildren… of `pid`, from /proc (Linux); deepest last. */
export function descendants(pid: number): number[] {
  const found: number[] = [];
  const visit = (p: number) => {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return; // gone
    }
    for (const tid of tasks) {
      let children: number[] = [];
      try {
        children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        continue;
      }
      for (const c of children) {
        found.push(c);
        visit(c);
      }
    }
  };
  visit(pid);
  return found;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * The fields of /proc/PID/stat after the command name, which may hold spaces or parentheses (so
 * they start after the last ')'): index 0 is field 3 (state), index N is field N + 3.
 */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Start time of a process (clock ticks since boot, /proc/PID/stat field 22): tells a pid from its reuse. */
function startTime(pid: number): string | undefined {
  try {
    return statFields(pid)[19];
  } catch {
    return undefined;
  }
}

/** SIGKILL of a child and everything under it (found before any of them dies and is reparented). */
function killTree(child: ChildProcess): void {
  if (!child.pid) return;
  const tree = descendants(child.pid);
  if (alive(child)) kill(child.pid, 'SIGKILL');
  for (const pid of tree) kill(pid, 'SIGKILL');
}

/** SIGTERM (the services drain as in production), then SIGKILL of the whole tree after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (!alive(child)) return;
  await new Promise<void>((resolve) => {
    // what runs under it now: a decoder left behind by an exit is still ours (same pid, same start time)
    const tree = (child.pid ? descendants(child.pid) : []).map((pid) => ({ pid, started: startTime(pid) }));
    const timer = setTimeout(() => killTree(child), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      for (const { pid, started } of tree) if (started && startTime(pid) === started) kill(pid, 'SIGKILL');
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function stopAll(graceMs = 3_000): Promise<void> {
  await Promise.all([...running].map((c) => stopChild(c, graceMs)));
}

/** Last resort on exit: nothing asynchronous is possible any more. */
export function killAllNow(): void {
  for (const child of running) killTree(child);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 60_000, everyMs = 100, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && !alive(child)) throw new Error(`${what}: the process exited`);
    if (await check().catch(() => false)) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export const httpOk = async (url: string) => (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;

/** Resident set size of a process, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak. */
export function sampleRss(pid: number, everyMs = 10): { stop(): number } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // the process is gone
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      try {
        peak = Math.max(peak, rssBytes(pid));
      } catch {
        // gone
      }
      return peak;
    },
  };
}

/** Jiffies of the whole machine, from /proc/stat: for the share of CPU that was busy over a window. */
export function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export function busyShare(before: { busy: number; total: number }, after: { busy: number; total: number }): number {
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : NaN;
}

/**
 * CPU seconds of a process from /proc/<pid>/stat: its own (user + system, all threads) and that of
 * its children it has waited for (a worker's finished ffmpeg runs). Assumes USER_HZ = 100, which
 * Linux reports to user space on every common architecture.
 */
export function processCpuSeconds(pid: number): { own: number; children: number } {
  // utime, stime, cutime, cstime: fields 14–17
  const [utime, stime, cutime, cstime] = statFields(pid).slice(11, 15).map(Number);
  return { own: (utime + stime) / 100, children: (cutime + cstime) / 100 };
}

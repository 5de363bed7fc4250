import { execFile, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** tools/export/export_auto_avsr.py: one folder up from src/ and dist/ alike. */
export const IMPORTER_SCRIPT = path.resolve(__dirname, '..', 'export_auto_avsr.py');

/**
 * A Python that can import PyTorch: `PYTHON` when set, else `python3` on PATH, else Debian's
 * `/usr/bin/python3` (where python3-torch installs; a PATH `python3` is often another one).
 * Undefined when none can.
 */
export async function findTorchPython(): Promise<string | undefined> {
  for (const python of pythonCandidates()) {
    try {
      await run(python, ['-c', 'import torch'], { timeout: 60_000 });
      return python;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** findTorchPython for where an answer is needed synchronously (choosing tests at collection). */
export function findTorchPythonSync(): string | undefined {
  for (const python of pythonCandidates()) {
    try {
      execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
      return python;
    } catch {
      // not this one
    }
  }
  return undefined;
}

const pythonCandidates = () => (process.env.PYTHON ? [process.env.PYTHON] : ['python3', '/usr/bin/python3']);

export interface ImportResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the importer with `args`; resolves with its exit code and output, whatever the code. */
export async function runImporter(python: string, args: readonly string[], options: { timeoutMs?: number } = {}): Promise<ImportResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [IMPORTER_SCRIPT, ...args], { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { transformFileSync } from '@swc/core';

/**
 * Runs in a child process of its own (jest's worker would otherwise stay niced for the rest of
 * its test files): lowering is one-way for an unprivileged process. The child loads this
 * package's source compiled here, not dist/, so the test follows the source without a build.
 */
describe('lowerProcessPriority', () => {
  let dir: string;
  let compiled: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'talkie-priority-'));
    compiled = path.join(dir, 'priority.js');
    const { code } = transformFileSync(path.join(__dirname, 'priority.ts'), {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'commonjs' },
    });
    writeFileSync(compiled, code);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lowers every thread of the process, not only the calling one', () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      const { lowerProcessPriority, threadPriorities } = require(${JSON.stringify(compiled)});
      // a thread that exists before the call, as V8's and libuv's do
      const early = new Worker('setInterval(() => {}, 1000)', { eval: true });
      early.on('online', () => {
        // this thread is already lower than asked: it must stay so
        require('node:os').setPriority(0, 9);
        const before = threadPriorities();
        lowerProcessPriority(7);
        const after = threadPriorities();
        process.stdout.write(JSON.stringify({ before, after, main: require('node:os').getPriority(process.pid) }));
        process.exit(0);
      });
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { before: number[]; after: number[]; main: number };
    expect(out.before.length).toBeGreaterThan(2);
    expect(out.before.some((n) => n < 7)).toBe(true);
    expect(out.after.every((n) => n >= 7)).toBe(true);
    expect(out.main).toBe(9);
  });
});

import { readdirSync } from 'node:fs';
import os from 'node:os';

/** This process's thread ids (Linux); empty where /proc/self/task does not exist. */
function threadIds(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number).filter((tid) => Number.isInteger(tid) && tid > 0);
  } catch {
    return [];
  }
}

/**
 * Lowers the CPU priority of this whole process to at least `nice`. On Linux the nice value belongs
 * to each thread, and `os.setPriority(0)` changes only the calling one: V8's and libuv's threads,
 * a worker_threads thread and ONNX Runtime's pools made from them would keep running at the
 * gateway's priority. So every thread of the process is lowered, by its id; call again after
 * starting threads (threads inherit the value of the thread that creates them).
 * Returns how many threads were changed; throws only when the process itself cannot be lowered.
 */
export function lowerProcessPriority(nice: number): number {
  const tids = threadIds();
  if (!tids.length) {
    // not Linux: the process-wide call is all there is
    os.setPriority(0, Math.max(os.getPriority(0), nice));
    return 1;
  }
  let changed = 0;
  for (const tid of tids) {
    try {
      if (os.getPriority(tid) < nice) {
        os.setPriority(tid, nice);
        changed++;
      }
    } catch {
      // the thread ended meanwhile
    }
  }
  return changed;
}

/** The nice values of this process's threads (Linux), for checks and tests. */
export function threadPriorities(): number[] {
  const tids = threadIds();
  if (!tids.length) return [os.getPriority(0)];
  return tids.flatMap((tid) => {
    try {
      return [os.getPriority(tid)];
    } catch {
      return []; // the thread ended meanwhile
    }
  });
}

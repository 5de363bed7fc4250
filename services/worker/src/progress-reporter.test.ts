import { ProgressReporter } from './progress-reporter';

describe('ProgressReporter', () => {
  let clock: number;
  let writes: number[];
  const reporter = (write = async (p: number) => void writes.push(p)) => new ProgressReporter(write, 250, () => clock);
  beforeEach(() => {
    clock = 1_000;
    writes = [];
  });

  it('writes the first whole percent at once, then nothing more within the interval, however often it reports', () => {
    const progress = reporter();
    progress.report(0.6); // rounds down to 0, which the record already says
    for (let p = 1; p <= 80; p++) {
      clock += 2;
      progress.report(p);
    }
    expect(writes).toEqual([1]);
  });

  it('writes at most once per interval, the latest whole percentage', () => {
    const progress = reporter();
    progress.report(5.5);
    clock += 100;
    progress.report(10.7);
    clock += 150;
    progress.report(20.2); // 250 ms after the first write
    clock += 100;
    progress.report(30);
    clock += 149;
    progress.report(40);
    clock += 1;
    progress.report(50.9); // 250 ms after the second
    expect(writes).toEqual([5, 20, 50]);
  });

  it('never writes a percentage that did not grow', () => {
    const progress = reporter();
    progress.report(40);
    clock += 300;
    progress.report(40.9);
    clock += 300;
    progress.report(12);
    clock += 300;
    progress.report(41);
    expect(writes).toEqual([40, 41]);
  });

  it('writes a milestone at once, inside the interval, but never one that did not grow', () => {
    const progress = reporter();
    progress.report(1);
    clock += 100;
    progress.milestone(80); // decoding done 100 ms after the first write
    clock += 10;
    progress.milestone(80);
    progress.milestone(50);
    progress.report(85); // the interval counts from the milestone
    expect(writes).toEqual([1, 80]);
  });

  it('drops a failed write: progress is advisory, the job goes on', async () => {
    const unhandled = jest.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const progress = reporter(() => Promise.reject(new Error('redis away')));
      expect(() => progress.report(50)).not.toThrow();
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });
});

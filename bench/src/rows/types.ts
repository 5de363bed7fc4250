import type { RenderedFixture } from '@talkie/demo-model';
import type { ExecutionProviderName } from '@talkie/inference';
import type { FfmpegBinaries } from '@talkie/media';
import type { Check } from '../report';

/** What every row gets: the run's scratch folder, ffmpeg, the demo model and the fixtures. */
export interface BenchContext {
  tmp: string;
  ffmpeg: FfmpegBinaries;
  demoModelDir: string;
  fixtures: {
    /** a few seconds, read back as "HELLO WORLD" */
    short: RenderedFixture;
    /** exactly 10 s */
    ten: RenderedFixture;
    /** about 100 s: the backlog of the isolation row */
    long: RenderedFixture;
  };
  /** 640×480 H.264, 30 fps, 20 s (600 frames) from testsrc2 */
  clip: () => Promise<{ file: string; frames: number }>;
  /** --big: 1 GB uploads too */
  big: boolean;
  /** --providers: ONNX Runtime execution providers for the inference row (default cpu) */
  providers: ExecutionProviderName[];
  /** --avsr-prefix: row 10 also times the old whole-prefix decoder (~90 s) */
  avsrPrefix: boolean;
  log(line: string): void;
}

export interface RowOutcome {
  talkie: string;
  baseline: string;
  ratio: number | null;
  ratioLabel: string;
  checks: Check[];
  figures: Record<string, unknown>;
  baselineFigures: Record<string, unknown>;
  notes: string[];
  /** set when the row could not run here for a reason that is no fault (e.g. no PyTorch): verdict SKIP */
  skipped?: string;
}

export interface RowSpec {
  id: number;
  name: string;
  target: string;
  run(ctx: BenchContext): Promise<RowOutcome>;
}

import * as ort from 'onnxruntime-node';

/**
 * The ONNX Runtime version this process runs, for start-up logs and readiness output:
 * onnxruntime-node's own (its native binding ships with it), else onnxruntime-common's.
 */
export function onnxRuntimeVersion(): string {
  const versions = (ort.env as { versions?: Record<string, string | undefined> }).versions ?? {};
  if (versions.node) return versions.node;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return versions.common ?? 'unknown';
  }
}

import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a generated model package's files into `dir`, in the order given (put the manifest last:
 * its presence then means the rest is there). Used by the demo, face and bench model builders.
 */
export async function writeModelPackage(dir: string, files: Array<[name: string, data: Uint8Array | string]>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, data] of files) {
    const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
    await writeFile(tmp, data);
    await rename(tmp, path.join(dir, name)); // atomic: concurrent workers never read half a file
  }
}

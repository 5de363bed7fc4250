import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertValidKey, type BlobStorage, type LocalFile, type PutOptions, type StoredBlob } from './blob-storage';

/** The stored file itself, by path: nothing to remove on release. */
const storedFile = (file: string): LocalFile => ({ path: file, release: async () => undefined });

/** Stores blobs as files under one root folder (a local disk or a volume shared by all nodes). */
export class LocalStorage implements BlobStorage {
  readonly description: string;

  constructor(private readonly root: string) {
    this.root = path.resolve(root);
    this.description = `file://${this.root}`;
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, source: Readable, options: PutOptions = {}): Promise<StoredBlob> {
    const final = this.pathOf(key);
    // The source may fail while the folder is being made (a client sending garbage fast); hold the
    // error until the pipeline below owns the stream, or it would be an unhandled 'error' event.
    let earlyError: unknown;
    const holdError = (err: unknown) => (earlyError ??= err);
    source.on('error', holdError);
    try {
      await mkdir(path.dirname(final), { recursive: true });
    } finally {
      source.off('error', holdError);
    }
    if (earlyError) {
      source.destroy();
      throw earlyError;
    }
    // Written under a temporary name and renamed at the end, so a reader never sees half a file
    // and a failed upload leaves nothing under the real key.
    const partial = `${final}.partial-${randomBytes(6).toString('hex')}`;
    let bytes = 0;
    source.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    try {
      await pipeline(source, createWriteStream(partial, { flags: 'wx', mode: 0o600 }));
      await rename(partial, final);
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
    return options.keepLocal ? { bytes, local: storedFile(final) } : { bytes };
  }

  async openLocal(key: string): Promise<LocalFile> {
    const file = this.pathOf(key);
    await access(file);
    return storedFile(file);
  }

  async exists(key: string): Promise<boolean> {
    try {
      await access(this.pathOf(key));
      return true;
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async *list(prefix: string): AsyncIterable<{ key: string; modifiedAt: Date }> {
    assertValidKey(prefix);
    const dir = this.pathOf(prefix);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return; // nothing stored yet
    }
    for (const name of names) {
      try {
        const info = await stat(path.join(dir, name));
        if (info.isFile()) yield { key: `${prefix}/${name}`, modifiedAt: info.mtime };
      } catch {
        // removed meanwhile
      }
    }
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const probe = path.join(this.root, `.ping-${process.pid}-${randomBytes(4).toString('hex')}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  }
}

import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { LocalStorage } from './local-storage';
import { createStorage } from './create-storage';

describe('LocalStorage', () => {
  let root: string;
  let storage: LocalStorage;
  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'talkie-storage-'));
    storage = new LocalStorage(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('streams a blob in and reads it back by path', async () => {
    const { bytes } = await storage.put('uploads/abc', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
    expect(bytes).toBe(11);
    const file = await storage.openLocal('uploads/abc');
    expect(await readFile(file.path, 'utf8')).toBe('hello world');
    expect(await storage.exists('uploads/abc')).toBe(true);
    await storage.delete('uploads/abc');
    expect(await storage.exists('uploads/abc')).toBe(false);
    await storage.delete('uploads/abc'); // idempotent
  });

  it('keepLocal: hands back the stored file itself, which release leaves in place', async () => {
    const { bytes, local } = await storage.put('uploads/kept', Readable.from([Buffer.from('kept')]), { keepLocal: true });
    expect(bytes).toBe(4);
    expect(local!.path).toBe((await storage.openLocal('uploads/kept')).path);
    expect(await readFile(local!.path, 'utf8')).toBe('kept');
    await local!.release();
    expect(await storage.exists('uploads/kept')).toBe(true);
    expect((await storage.put('uploads/plain', Readable.from(['x']))).local).toBeUndefined();
  });

  it('leaves nothing behind when the source stream fails', async () => {
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024));
        this.destroy(new Error('client went away'));
      },
    });
    await expect(storage.put('uploads/broken', failing)).rejects.toThrow('client went away');
    expect(await readdir(path.join(root, 'uploads'))).toEqual([]);
  });

  it('reports a source that fails before writing starts, without an unhandled error event', async () => {
    const failing = new Readable({ read() {} });
    const put = storage.put('uploads/early', failing);
    failing.destroy(new Error('rejected at once'));
    await expect(put).rejects.toThrow('rejected at once');
    expect(await storage.exists('uploads/early')).toBe(false);
  });

  it.each(['../escape', 'uploads/../../etc', '/abs', 'Uploads/X', 'a//b', ''])('refuses the key %j', async (key) => {
    await expect(storage.put(key, Readable.from(['x']))).rejects.toThrow('invalid storage key');
  });

  it('is built from a file:// STORAGE_URL and refuses unknown schemes', async () => {
    expect(createStorage(`file://${root}`).description).toBe(`file://${root}`);
    expect(() => createStorage('ftp://example/x')).toThrow('not supported');
    await expect(createStorage(`file://${root}`).ping()).resolves.toBeUndefined();
  });
});

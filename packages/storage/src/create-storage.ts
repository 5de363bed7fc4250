import { fileURLToPath } from 'node:url';
import type { BlobStorage } from './blob-storage';
import { LocalStorage } from './local-storage';

/** Builds the adapter named by `STORAGE_URL`. Only `file://` exists so far; `s3://` is planned. */
export function createStorage(storageUrl: string): BlobStorage {
  let url: URL;
  try {
    url = new URL(storageUrl);
  } catch {
    throw new Error(`STORAGE_URL is not a URL: ${storageUrl}`);
  }
  if (url.protocol === 'file:') return new LocalStorage(fileURLToPath(url));
  throw new Error(`STORAGE_URL scheme ${url.protocol} is not supported (use file:///path)`);
}

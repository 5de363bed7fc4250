import { fileURLToPath } from 'node:url';
import type { BlobStorage } from './blob-storage';
import { LocalStorage } from './local-storage';
import { S3Storage, s3Location, s3OptionsFromUrl, type S3Env } from './s3-storage';

/** `STORAGE_URL` as a URL of a supported scheme (`file:` or a valid `s3://bucket[/prefix]`); throws otherwise. */
export function parseStorageUrl(storageUrl: string): URL {
  let url: URL;
  try {
    url = new URL(storageUrl);
  } catch {
    throw new Error(`STORAGE_URL is not a URL: ${storageUrl}`);
  }
  if (url.protocol === 's3:') s3Location(url);
  else if (url.protocol !== 'file:') throw new Error(`STORAGE_URL scheme ${url.protocol} is not supported (use file:///path or s3://bucket[/prefix])`);
  return url;
}

/**
 * Builds the adapter named by `STORAGE_URL`:
 * - `file:///path`: LocalStorage under that folder (one machine, or a volume shared by all nodes);
 * - `s3://bucket[/prefix]`: S3Storage, configured from `env` (S3_ENDPOINT, S3_REGION,
 *   S3_FORCE_PATH_STYLE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; see s3OptionsFromUrl).
 * A service passes its parsed config as `env` (see `StorageEnv`).
 */
export function createStorage(storageUrl: string, env: S3Env = process.env): BlobStorage {
  const url = parseStorageUrl(storageUrl);
  if (url.protocol === 'file:') return new LocalStorage(fileURLToPath(url));
  return new S3Storage(s3OptionsFromUrl(url, env));
}

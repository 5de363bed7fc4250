import { fileURLToPath } from 'node:url';
import type { BlobStorage } from './blob-storage';
import { LocalStorage } from './local-storage';
import { S3Storage, s3OptionsFromUrl } from './s3-storage';

/**
 * Builds the adapter named by `STORAGE_URL`:
 * - `file:///path`: LocalStorage under that folder (one machine, or a volume shared by all nodes);
 * - `s3://bucket[/prefix]`: S3Storage, configured from `env` (S3_ENDPOINT, S3_REGION,
 *   S3_FORCE_PATH_STYLE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; see s3OptionsFromUrl).
 */
export function createStorage(storageUrl: string, env: NodeJS.ProcessEnv = process.env): BlobStorage {
  let url: URL;
  try {
    url = new URL(storageUrl);
  } catch {
    throw new Error(`STORAGE_URL is not a URL: ${storageUrl}`);
  }
  if (url.protocol === 'file:') return new LocalStorage(fileURLToPath(url));
  if (url.protocol === 's3:') return new S3Storage(s3OptionsFromUrl(url, env));
  throw new Error(`STORAGE_URL scheme ${url.protocol} is not supported (use file:///path or s3://bucket[/prefix])`);
}

import { z } from 'zod';
import { parseStorageUrl } from './create-storage';
import { s3Credentials, s3Endpoint, s3PathStyle, type S3Env } from './s3-storage';

/** A string variable checked by one of the adapter's own readers (the message is the reader's). */
const checkedBy = (check: (value: string) => unknown) =>
  z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value === undefined) return;
      try {
        check(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    });

/**
 * The storage adapter's settings, owned here and merged into the config schema of each service
 * that stores uploads (gateway, worker; issue 19), so they are validated with the rest at start.
 * Values stay strings: the parsed config is what `createStorage(config.STORAGE_URL, config)` reads.
 * Use with `checkStorageEnv` for the rule that spans two keys.
 */
export const StorageEnv = {
  /** where uploads are stored: `file:///path` or `s3://bucket[/prefix]`; workers read the same place */
  STORAGE_URL: z
    .string()
    .default(`file://${process.cwd()}/.talkie/storage`)
    .superRefine((value, ctx) => {
      try {
        parseStorageUrl(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }),
  /** base URL of an S3-compatible store, e.g. http://minio:9000; unset: AWS S3 */
  S3_ENDPOINT: checkedBy(s3Endpoint),
  /** the bucket's region, for signing (default us-east-1) */
  S3_REGION: z.string().optional(),
  /** `endpoint/bucket/key` addressing; unset: true with S3_ENDPOINT, else false */
  S3_FORCE_PATH_STYLE: checkedBy((value) => s3PathStyle(value, undefined)),
  /** static credentials, both or neither; unset: the SDK's default chain (IRSA, instance roles, ...) */
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_SECRET_ACCESS_KEY: z.string().optional(),
  AWS_SESSION_TOKEN: z.string().optional(),
  /** WHEN_SUPPORTED (the SDK's default) or WHEN_REQUIRED, for stores that reject the SDK's default checksums */
  AWS_REQUEST_CHECKSUM_CALCULATION: z.string().optional(),
  AWS_RESPONSE_CHECKSUM_VALIDATION: z.string().optional(),
};

/** The rules of `StorageEnv` that span keys, for the service schema's `superRefine`. */
export function checkStorageEnv(env: S3Env, ctx: z.RefinementCtx): void {
  try {
    s3Credentials(env);
  } catch (err) {
    ctx.addIssue({ code: 'custom', path: [env.AWS_ACCESS_KEY_ID ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'], message: (err as Error).message });
  }
}

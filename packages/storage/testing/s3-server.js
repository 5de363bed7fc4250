#!/usr/bin/env node
'use strict';
/**
 * A real S3-compatible HTTP server (s3rver, on disk) for tests, in its own process so that a test
 * measuring its own memory measures the client only.
 *
 *   node --openssl-legacy-provider packages/storage/testing/s3-server.js <directory> [bucket ...]
 *
 * (s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only has in its legacy
 * provider: without the flag every paginated listing fails with InternalError, so the script
 * refuses to start.)
 *
 * Listens on a free loopback port, creates the buckets, then prints one JSON line to stdout:
 *   {"endpoint":"http://127.0.0.1:PORT","accessKeyId":"S3RVER","secretAccessKey":"S3RVER","region":"us-east-1"}
 * It stops on SIGTERM/SIGINT, or when its stdin closes (so it never outlives the test that spawned
 * it with a stdin pipe).
 *
 * s3rver implements objects, listing (v1/v2), and multipart create/upload-part/complete, but not
 * ListMultipartUploads nor AbortMultipartUpload. Both are added below, over s3rver's own on-disk
 * layout of unfinished uploads (<directory>/<bucket>/._S3rver_uploads/<uploadId>/{key,1,2,…}):
 * just enough of the S3 API (prefix, delimiter, markers, max-uploads; no signature check) for
 * @talkie/storage's S3Storage.
 */
const fs = require('node:fs/promises');
const path = require('node:path');
const S3rver = require('s3rver');

const xmlEscape = (s) =>
  String(s).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]);
const tag = (name, value) => (value === undefined || value === '' ? `<${name}/>` : `<${name}>${xmlEscape(value)}</${name}>`);

function sendError(ctx, status, code, message) {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${tag('Code', code)}${tag('Message', message)}</Error>`;
}

function multipartExtensions(directory) {
  const uploadsDir = (bucket) => path.join(directory, bucket, '._S3rver_uploads');

  async function uploadsOf(bucket) {
    let ids;
    try {
      ids = await fs.readdir(uploadsDir(bucket));
    } catch {
      return [];
    }
    const uploads = [];
    for (const uploadId of ids) {
      try {
        const keyFile = path.join(uploadsDir(bucket), uploadId, 'key');
        const [key, info] = await Promise.all([fs.readFile(keyFile, 'utf8'), fs.stat(keyFile)]);
        uploads.push({ key, uploadId, initiated: info.mtime });
      } catch {
        // completed or aborted meanwhile
      }
    }
    return uploads.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.uploadId < b.uploadId ? -1 : 1));
  }

  async function bucketExists(bucket) {
    return fs.stat(path.join(directory, bucket)).then(
      (s) => s.isDirectory(),
      () => false,
    );
  }

  return async function (ctx, next) {
    const [, bucket, ...rest] = ctx.path.split('/');
    const key = rest.map(decodeURIComponent).join('/');
    if (ctx.method === 'GET' && bucket && !key && 'uploads' in ctx.query) {
      if (!(await bucketExists(bucket))) return sendError(ctx, 404, 'NoSuchBucket', 'The specified bucket does not exist');
      const prefix = ctx.query.prefix || '';
      const delimiter = ctx.query.delimiter || '';
      const keyMarker = ctx.query['key-marker'] || '';
      const uploadIdMarker = ctx.query['upload-id-marker'] || '';
      const maxUploads = Math.min(1000, Number(ctx.query['max-uploads'] || 1000));
      const after = (u) => u.key > keyMarker || (u.key === keyMarker && uploadIdMarker !== '' && u.uploadId > uploadIdMarker);
      const page = [];
      const commonPrefixes = new Set();
      let truncated = false;
      for (const u of await uploadsOf(bucket)) {
        if (!u.key.startsWith(prefix) || (keyMarker && !after(u))) continue;
        const cut = delimiter ? u.key.indexOf(delimiter, prefix.length) : -1;
        if (cut !== -1) {
          commonPrefixes.add(u.key.slice(0, cut + delimiter.length));
          continue;
        }
        if (page.length === maxUploads) {
          truncated = true;
          break;
        }
        page.push(u);
      }
      const last = page[page.length - 1];
      ctx.type = 'application/xml';
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        tag('Bucket', bucket) +
        tag('KeyMarker', keyMarker) +
        tag('UploadIdMarker', uploadIdMarker) +
        tag('NextKeyMarker', truncated ? last.key : '') +
        tag('NextUploadIdMarker', truncated ? last.uploadId : '') +
        tag('Prefix', prefix) +
        (delimiter ? tag('Delimiter', delimiter) : '') +
        tag('MaxUploads', maxUploads) +
        tag('IsTruncated', truncated) +
        page
          .map(
            (u) =>
              `<Upload>${tag('Key', u.key)}${tag('UploadId', u.uploadId)}${tag('Initiated', u.initiated.toISOString())}` +
              `${tag('StorageClass', 'STANDARD')}</Upload>`,
          )
          .join('') +
        [...commonPrefixes].map((p) => `<CommonPrefixes>${tag('Prefix', p)}</CommonPrefixes>`).join('') +
        '</ListMultipartUploadsResult>';
      return;
    }
    if (ctx.method === 'DELETE' && bucket && key && typeof ctx.query.uploadId === 'string') {
      const uploadId = ctx.query.uploadId;
      const dir = path.join(uploadsDir(bucket), path.basename(uploadId));
      const stored = await fs.readFile(path.join(dir, 'key'), 'utf8').catch(() => undefined);
      if (uploadId !== path.basename(uploadId) || stored !== key) {
        return sendError(ctx, 404, 'NoSuchUpload', 'The specified multipart upload does not exist.');
      }
      await fs.rm(dir, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    return next();
  };
}

async function main() {
  try {
    require('node:crypto').createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
  } catch {
    process.stderr.write('s3-server.js needs DES for s3rver: run it as node --openssl-legacy-provider s3-server.js …\n');
    process.exit(2);
  }
  const [directory, ...buckets] = process.argv.slice(2);
  if (!directory) {
    process.stderr.write('usage: s3-server.js <directory> [bucket ...]\n');
    process.exit(2);
  }
  await fs.mkdir(directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  // Ahead of s3rver's router (the last middleware), after its logging and XML encoding.
  server.middleware.splice(server.middleware.length - 1, 0, multipartExtensions(directory));
  // S3_REQUEST_LOG=<file>: one "METHOD /bucket/key" line per request, for tests that count fetches
  const requestLog = process.env.S3_REQUEST_LOG;
  if (requestLog) {
    server.middleware.unshift(async (ctx, next) => {
      await fs.appendFile(requestLog, `${ctx.method} ${ctx.path}\n`);
      return next();
    });
  }
  const { address, port } = await server.run();
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  process.stdout.write(
    `${JSON.stringify({ endpoint: `http://${address}:${port}`, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1' })}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});

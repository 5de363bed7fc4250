import http from 'node:http';
import net from 'node:net';
import https from 'node:https';
import type { LookupAddress } from 'node:dns';
import { performance } from 'node:perf_hooks';
import { checkAddress } from './address';
import { bareHost, parseWebhookUrl, resolveHost, type Resolver } from './url';

export type DeliveryError = 'timeout' | 'connection_refused' | 'address_not_allowed' | 'tls_error' | 'network_error';

export interface DeliveryResult {
  /** the receiver's HTTP status, when it answered (3xx included: redirects are never followed) */
  status?: number;
  error?: DeliveryError;
  durationMs: number;
}

export interface PostWebhookOptions {
  /** loopback/private addresses and plain http allowed (local development only) */
  allowPrivate: boolean;
  /** limit on the whole exchange: resolution, connection, TLS, request and reading the answer */
  timeoutMs: number;
  /** at most this much of the answer is read, then the connection is dropped; nothing is kept */
  maxResponseBytes: number;
  /** name resolution (tests); default: the system resolver */
  resolve?: Resolver;
  /** extra TLS options (tests: a private CA); never used to turn verification off */
  ca?: string | Buffer;
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$|EPROTO$)/;

function errorKind(err: unknown): DeliveryError {
  const e = err as NodeJS.ErrnoException & { errors?: Array<NodeJS.ErrnoException> };
  // With several addresses, Node's happy eyeballs reports an AggregateError of each attempt.
  const codes = [e?.code, ...(e?.errors ?? []).map((x) => x?.code)].filter((c): c is string => typeof c === 'string');
  if (codes.some((c) => c === 'ECONNREFUSED')) return 'connection_refused';
  if (codes.some((c) => c === 'ETIMEDOUT' || c === 'ETIMEOUT')) return 'timeout';
  if (codes.some((c) => TLS_CODE.test(c))) return 'tls_error';
  return 'network_error';
}

/**
 * A `lookup` for net/tls.connect that never asks DNS: it answers with the addresses resolved and
 * checked just before, so there is no window for DNS rebinding between the check and the connect.
 */
function pinnedLookup(addresses: LookupAddress[]) {
  return (hostname: string, opts: unknown, callback?: unknown) => {
    const cb = (typeof opts === 'function' ? opts : callback) as (err: Error | null, address?: string | LookupAddress[], family?: number) => void;
    const o = (typeof opts === 'object' && opts !== null ? opts : {}) as { all?: boolean; family?: number | string };
    const family = o.family === 'IPv4' ? 4 : o.family === 'IPv6' ? 6 : Number(o.family ?? 0);
    const list = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : addresses;
    if (list.length === 0) {
      cb(Object.assign(new Error(`no checked address for ${hostname}`), { code: 'ENOTFOUND' }));
    } else if (o.all) {
      cb(null, list);
    } else {
      cb(null, list[0].address, list[0].family);
    }
  };
}

/**
 * POSTs `body` to a webhook URL, SSRF-safe:
 * - the URL is checked again (https, no userinfo), the host resolved ONCE, and EVERY address checked
 *   (global unicast only unless allowPrivate); any refused address refuses the delivery before a
 *   connection is opened (`address_not_allowed`);
 * - the connection goes to those checked addresses only: a pinned `lookup` on the request's own
 *   agent (no pooling, no reuse), while the Host header, TLS SNI and certificate check keep the
 *   URL's name;
 * - redirects are never followed (a 3xx is just a status);
 * - the whole exchange is bounded by `timeoutMs`; at most `maxResponseBytes` of the answer are read
 *   and discarded (answers are never echoed or stored).
 *
 * Why not `request-filtering-agent` or `ssrf-req-filter`: they pin correctly (the check runs inside
 * the connection's own lookup), but their allow-private switch is all-or-nothing (it would open
 * link-local and cloud metadata in development too), they refuse rather than judge the IPv4 inside
 * NAT64/6to4, and the gateway must apply the very same rules at submission time; request-filtering-
 * agent 3 is also ESM-only. So this is node:dns + ipaddr.js, shared with validateWebhookUrl.
 */
export async function postWebhook(url: string, body: string, headers: Record<string, string>, options: PostWebhookOptions): Promise<DeliveryResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const policy = { allowPrivate: options.allowPrivate };

  let target: URL;
  try {
    target = parseWebhookUrl(url, policy);
  } catch {
    return { error: 'address_not_allowed', durationMs: elapsed() };
  }

  let resolved: string[];
  try {
    resolved = await resolveHost(target, { resolve: options.resolve, timeoutMs: options.timeoutMs });
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code === 'ETIMEOUT' ? 'timeout' : 'network_error', durationMs: elapsed() };
  }
  const pinned: LookupAddress[] = [];
  for (const address of resolved) {
    const verdict = checkAddress(address, policy);
    if (!verdict.allowed) return { error: 'address_not_allowed', durationMs: elapsed() };
    pinned.push({ address: verdict.connect, family: verdict.family });
  }
  if (pinned.length === 0) return { error: 'network_error', durationMs: elapsed() };

  const remaining = Math.max(1, options.timeoutMs - elapsed());
  const host = bareHost(target);
  const isHttps = target.protocol === 'https:';
  const payload = Buffer.from(body, 'utf8');

  return new Promise<DeliveryResult>((resolve) => {
    let settled = false;
    let status: number | undefined;
    const finish = (result: { status?: number; error?: DeliveryError }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ...result, durationMs: elapsed() });
    };
    const requestOptions: https.RequestOptions = {
      method: 'POST',
      protocol: target.protocol,
      // A literal address never goes through `lookup`: connect to its checked form (IPv4-mapped
      // IPv6 unwrapped). A name goes through the pinned lookup and stays the TLS name.
      hostname: net.isIP(host) !== 0 ? pinned[0].address : host,
      port: target.port || (isHttps ? 443 : 80),
      path: `${target.pathname}${target.search}`,
      headers: { ...headers, host: target.host, 'content-length': String(payload.length), connection: 'close' },
      // a fresh agent per delivery: no pooled socket connected under an earlier check is reused
      agent: false,
      lookup: pinnedLookup(pinned) as unknown as https.RequestOptions['lookup'],
      ...(isHttps && options.ca ? { ca: options.ca } : {}),
    };
    const req = (isHttps ? https : http).request(requestOptions, (res) => {
      status = res.statusCode;
      if (options.maxResponseBytes <= 0) return finish({ status });
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= options.maxResponseBytes) finish({ status });
      });
      res.on('end', () => finish({ status }));
      res.on('error', () => finish({ status }));
      res.on('aborted', () => finish({ status }));
    });
    req.on('error', (err) => finish(status !== undefined ? { status } : { error: errorKind(err) }));
    // Once the receiver has answered, its status stands even if the rest of the answer is slow.
    const timer = setTimeout(() => finish(status !== undefined ? { status } : { error: 'timeout' }), remaining);
    req.end(payload);
  });
}

import dns from 'node:dns';
import net from 'node:net';
import { TalkieError } from '@talkie/contracts';
import { checkAddress, type AddressPolicy } from './address';

/** Resolves a host name to every address it has (IPv4 and IPv6). */
export type Resolver = (host: string) => Promise<string[]>;

export interface WebhookUrlOptions extends AddressPolicy {
  /** name resolution; default: the system resolver (getaddrinfo, as connections use), all addresses */
  resolve?: Resolver;
  /** limit on name resolution, in ms (default 5000) */
  resolveTimeoutMs?: number;
}

/** Longest webhook URL accepted. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

export const systemResolver: Resolver = async (host) => {
  const answers = await dns.promises.lookup(host, { all: true, verbatim: true });
  return answers.map((a) => a.address);
};

/** Why a URL or address was refused; kept as the `cause` of the client-facing TalkieError (never shown). */
export class WebhookUrlRefusal extends Error {
  override name = 'WebhookUrlRefusal';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** The host as a connection uses it: IPv6 literals without brackets. */
export const bareHost = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * The checks that need no network: https (http only with allowPrivate), no userinfo, a host. WHATWG
 * URL parsing normalizes numeric hosts (`0x7f000001`, `2130706433`, `0177.0.0.1` → `127.0.0.1`;
 * `[::ffff:127.0.0.1]` → `[::ffff:7f00:1]`), so literal addresses are judged in canonical form.
 * Throws WebhookUrlRefusal.
 */
export function parseWebhookUrl(input: string, policy: AddressPolicy): URL {
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_WEBHOOK_URL_LENGTH) throw new WebhookUrlRefusal('length');
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new WebhookUrlRefusal('unparseable');
  }
  if (url.protocol !== 'https:' && !(policy.allowPrivate && url.protocol === 'http:')) throw new WebhookUrlRefusal('scheme');
  if (url.username !== '' || url.password !== '') throw new WebhookUrlRefusal('userinfo');
  const host = bareHost(url);
  if (host === '') throw new WebhookUrlRefusal('no_host');
  if (net.isIP(host) !== 0 && !checkAddress(host, policy).allowed) throw new WebhookUrlRefusal(`address:${checkAddress(host, policy).range}`);
  return url;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out`), { code: 'ETIMEOUT' })), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The addresses a URL's host stands for: the literal itself, or every address the name resolves to. */
export async function resolveHost(url: URL, options: { resolve?: Resolver; timeoutMs?: number } = {}): Promise<string[]> {
  const host = bareHost(url);
  if (net.isIP(host) !== 0) return [host];
  const addresses = await withTimeout((options.resolve ?? systemResolver)(host), options.timeoutMs ?? 5_000, 'name resolution');
  return addresses;
}

/**
 * Where a webhook may go: https only (http too with allowPrivate), no userinfo, any port, and a host
 * whose EVERY address is global unicast (loopback/private too with allowPrivate). A name with one
 * public and one private address is refused: the connection could use either. Resolves the URL,
 * or throws `TalkieError('invalid_webhook_url')` (the reason is its `cause`, for logs, never for
 * clients: telling which names resolve to internal addresses would make Talkie a DNS oracle).
 */
export async function validateWebhookUrl(url: string, options: WebhookUrlOptions): Promise<URL> {
  try {
    const parsed = parseWebhookUrl(url, options);
    let addresses: string[];
    try {
      addresses = await resolveHost(parsed, { resolve: options.resolve, timeoutMs: options.resolveTimeoutMs });
    } catch {
      throw new WebhookUrlRefusal('unresolvable');
    }
    if (addresses.length === 0) throw new WebhookUrlRefusal('unresolvable');
    for (const address of addresses) {
      const verdict = checkAddress(address, options);
      if (!verdict.allowed) throw new WebhookUrlRefusal(`address:${verdict.range}`);
    }
    return parsed;
  } catch (err) {
    throw new TalkieError('invalid_webhook_url', { cause: err });
  }
}

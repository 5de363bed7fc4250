import { isIPv4 } from 'node:net';
import { ipKeyGenerator } from 'express-rate-limit';

/**
 * The rate-limit key of an unauthenticated client: an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`,
 * what a dual-stack socket reports for IPv4 clients) counts as its IPv4 address, and IPv6 addresses
 * are grouped by /56, since one subscriber usually holds a whole prefix.
 */
export function clientAddressKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped && isIPv4(mapped[1])) return mapped[1];
  return ipKeyGenerator(ip, 56);
}

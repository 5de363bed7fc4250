import net from 'node:net';
// Address classification uses ipaddr.js (well kept, also used by express/proxy-addr) instead of
// hand-written CIDR math: `range()` names every special-purpose block of the IANA registries
// (loopback, private, linkLocal, carrierGradeNat, reserved/documentation, uniqueLocal, 6to4, teredo…).
import ipaddr from 'ipaddr.js';

export interface AddressPolicy {
  /**
   * Local development only (WEBHOOK_ALLOW_PRIVATE=true): loopback and private addresses (10/8,
   * 172.16/12, 192.168/16, fc00::/7) are allowed. Link-local (cloud metadata), unspecified,
   * multicast and the rest stay refused even then.
   */
  allowPrivate: boolean;
}

export type AddressVerdict =
  /** `connect` is the address to open the connection to (IPv4-mapped IPv6 is unwrapped) */
  | { allowed: true; connect: string; family: 4 | 6; range: string }
  | { allowed: false; range: string };

/** Global unicast IPv6 (RFC 4291 §2.4): anything outside 2000::/3 is special or unallocated. */
const IPV6_GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');
/** NAT64 well-known prefix (RFC 6052): the IPv4 destination is the last 32 bits. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');

const PRIVATE_V4 = new Set(['loopback', 'private']);
const PRIVATE_V6 = new Set(['loopback', 'uniqueLocal']);

function judgeV4(ip: ipaddr.IPv4, policy: AddressPolicy, connect: string, family: 4 | 6, label?: string): AddressVerdict {
  const range = ip.range();
  const shown = label ? `${label}(${range})` : range;
  if (range === 'unicast') return { allowed: true, connect, family, range: shown };
  if (policy.allowPrivate && PRIVATE_V4.has(range)) return { allowed: true, connect, family, range: shown };
  return { allowed: false, range: shown };
}

const embeddedV4 = (ip: ipaddr.IPv6, firstByte: number): ipaddr.IPv4 => {
  const bytes = ip.toByteArray();
  return new ipaddr.IPv4(bytes.slice(firstByte, firstByte + 4));
};

/**
 * Judges one IP address (as a resolver returns it, or a URL's literal host without brackets). Only
 * global unicast passes, plus loopback/private with `allowPrivate`. Addresses that carry an IPv4
 * address inside are judged by that address:
 * - IPv4-mapped `::ffff:a.b.c.d` as a.b.c.d (and connected to as a.b.c.d);
 * - NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:AABB:CCDD::/48` by the embedded IPv4, which must be
 *   global unicast even with allowPrivate (a translator is not a development setup);
 * - Teredo (2001::/32), local-use NAT64 (64:ff9b:1::/48), SIIT (::ffff:0:a.b.c.d) and the deprecated
 *   IPv4-compatible form (::a.b.c.d, outside 2000::/3) are refused outright.
 * A scope/zone id (`fe80::1%eth0`) is refused: only link-local addresses carry one.
 */
export function checkAddress(address: string, policy: AddressPolicy): AddressVerdict {
  if (address.includes('%')) return { allowed: false, range: 'scoped' };
  const kind = net.isIP(address);
  if (kind === 0) return { allowed: false, range: 'not_an_ip' };
  const ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv4') return judgeV4(ip as ipaddr.IPv4, policy, address, 4);

  const v6 = ip as ipaddr.IPv6;
  const range = v6.range();
  if (range === 'ipv4Mapped') {
    const inner = v6.toIPv4Address();
    return judgeV4(inner, policy, inner.toString(), 4, 'ipv4Mapped');
  }
  if (range === 'rfc6052' && v6.match(NAT64_WELL_KNOWN)) {
    return judgeV4(embeddedV4(v6, 12), { allowPrivate: false }, v6.toString(), 6, 'nat64');
  }
  if (range === '6to4') {
    return judgeV4(embeddedV4(v6, 2), { allowPrivate: false }, v6.toString(), 6, '6to4');
  }
  if (range === 'unicast' && v6.match(IPV6_GLOBAL_UNICAST)) return { allowed: true, connect: v6.toString(), family: 6, range };
  if (policy.allowPrivate && PRIVATE_V6.has(range)) return { allowed: true, connect: v6.toString(), family: 6, range };
  return { allowed: false, range: range === 'unicast' ? 'not_global_unicast' : range };
}

/** True when `address` may receive a webhook under `policy`. */
export const isAllowedAddress = (address: string, policy: AddressPolicy): boolean => checkAddress(address, policy).allowed;

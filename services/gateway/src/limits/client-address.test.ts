import fc from 'fast-check';
import { clientAddressKey } from './client-address';

describe('clientAddressKey', () => {
  it('keys a missing address as "unknown"', () => {
    expect(clientAddressKey(undefined)).toBe('unknown');
    expect(clientAddressKey('')).toBe('unknown');
  });

  it('keeps an IPv4 address as it is', () => {
    expect(clientAddressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressKey('10.0.0.1')).toBe('10.0.0.1');
  });

  it.each([
    ['::ffff:203.0.113.7'],
    ['::FFFF:203.0.113.7'],
    ['0:0:0:0:0:ffff:203.0.113.7'],
    ['::ffff:cb00:7107'], // the same mapped address in hex notation
  ])('counts the IPv4-mapped address %s as its IPv4 client', (mapped) => {
    expect(clientAddressKey(mapped)).toBe('203.0.113.7');
  });

  it('keeps neighbouring IPv4 clients apart, mapped or not', () => {
    expect(clientAddressKey('::ffff:203.0.113.8')).toBe('203.0.113.8');
    expect(clientAddressKey('::ffff:203.0.113.8')).not.toBe(clientAddressKey('203.0.113.7'));
  });

  it('groups IPv6 addresses by /56', () => {
    const key = clientAddressKey('2001:db8:abcd:1200::1');
    expect(key).toBe('2001:db8:abcd:1200::/56');
    expect(clientAddressKey('2001:db8:abcd:12ff:ffff:ffff:ffff:ffff')).toBe(key);
    expect(clientAddressKey('2001:DB8:ABCD:1234:5678:9abc:def0:1')).toBe(key);
    expect(clientAddressKey('2001:db8:abcd:1300::1')).not.toBe(key);
    expect(clientAddressKey('2001:db8:abcd:11ff::1')).not.toBe(key);
  });

  it('never lets a mapped IPv4 address share an IPv6 /56 bucket with other mapped addresses', () => {
    expect(clientAddressKey('::ffff:198.51.100.1')).not.toBe(clientAddressKey('::ffff:198.51.100.2'));
  });

  it('property: every IPv4 address and its mapped form share one key, and distinct IPv4 addresses never do', () => {
    const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
    fc.assert(
      fc.property(ipv4, ipv4, (a, b) => {
        expect(clientAddressKey(`::ffff:${a}`)).toBe(clientAddressKey(a));
        expect(clientAddressKey(a)).toBe(a);
        if (a !== b) expect(clientAddressKey(a)).not.toBe(clientAddressKey(b));
      }),
    );
  });

  it('property: IPv6 addresses share a key exactly when their first 56 bits agree', () => {
    const group = fc.nat(0xffff).map((n) => n.toString(16));
    const ipv6 = fc.tuple(fc.constantFrom('2001', '2a02', 'fd00'), fc.array(group, { minLength: 7, maxLength: 7 })).map(([first, rest]) => [first, ...rest].join(':'));
    const bits56 = (ip: string) => ip.split(':').slice(0, 3).map((g) => g.padStart(4, '0')).join('') + ip.split(':')[3].padStart(4, '0').slice(0, 2);
    fc.assert(
      fc.property(ipv6, ipv6, (a, b) => {
        expect(clientAddressKey(a) === clientAddressKey(b)).toBe(bits56(a) === bits56(b));
        expect(clientAddressKey(a)).toMatch(/\/56$/);
      }),
    );
  });

  it('does not throw on what a socket or a proxy header may hold', () => {
    for (const odd of ['fe80::1%eth0', '::1', '::', 'not-an-ip', '203.0.113.7:1234', '[::1]', 'unknown']) {
      expect(typeof clientAddressKey(odd)).toBe('string');
    }
  });
});

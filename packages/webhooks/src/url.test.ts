import { TalkieError } from '@talkie/contracts';
import { checkAddress } from './address';
import { parseWebhookUrl, validateWebhookUrl, WebhookUrlRefusal, type Resolver } from './url';

/** No network here: names resolve through this table only. */
const table: Record<string, string[]> = {
  'example.com': ['93.184.215.14'],
  'v6.example.com': ['2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'dual.example.com': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'loopback.example.com': ['127.0.0.1'],
  'mixed.example.com': ['93.184.215.14', '10.1.2.3'],
  'mixed6.example.com': ['2606:2800:21f:cb07:6820:80da:af6b:8b2c', 'fd00::1'],
  'metadata.example.com': ['169.254.169.254'],
  'mapped.example.com': ['::ffff:127.0.0.1'],
  'private.example.com': ['192.168.1.10'],
  'nothing.example.com': [],
};
const resolve: Resolver = async (host) => {
  const answer = table[host];
  if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return answer;
};

const strict = { allowPrivate: false, resolve };
const dev = { allowPrivate: true, resolve };

async function refusal(url: string, options: Parameters<typeof validateWebhookUrl>[1] = strict): Promise<string> {
  try {
    await validateWebhookUrl(url, options);
  } catch (err) {
    expect(err).toBeInstanceOf(TalkieError);
    expect((err as TalkieError).code).toBe('invalid_webhook_url');
    expect((err as TalkieError).status).toBe(400);
    return ((err as TalkieError).cause as WebhookUrlRefusal).reason;
  }
  throw new Error(`${url} was accepted`);
}

describe('validateWebhookUrl refuses', () => {
  it.each([
    ['loopback literal https://127.0.0.1/', 'https://127.0.0.1/', 'address:loopback'],
    ['IPv6 loopback', 'https://[::1]/', 'address:loopback'],
    ['private 10/8', 'https://10.0.0.1/', 'address:private'],
    ['private 172.16/12', 'https://172.16.5.4/hook', 'address:private'],
    ['private 192.168/16', 'https://192.168.0.1/', 'address:private'],
    ['cloud metadata (link-local)', 'https://169.254.169.254/latest/meta-data/', 'address:linkLocal'],
    ['IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/', 'address:ipv4Mapped(loopback)'],
    ['hex loopback 0x7f000001', 'https://0x7f000001/', 'address:loopback'],
    ['decimal loopback 2130706433', 'https://2130706433/', 'address:loopback'],
    ['octal loopback 0177.0.0.1', 'https://0177.0.0.1/', 'address:loopback'],
    ['short loopback 127.1', 'https://127.1/', 'address:loopback'],
    ['CGNAT 100.64/10', 'https://100.64.0.1/', 'address:carrierGradeNat'],
    ['0.0.0.0', 'https://0.0.0.0/', 'address:unspecified'],
    ['0/8', 'https://0.1.2.3/', 'address:unspecified'],
    ['multicast', 'https://224.0.0.1/', 'address:multicast'],
    ['broadcast', 'https://255.255.255.255/', 'address:broadcast'],
    ['documentation 192.0.2/24', 'https://192.0.2.1/', 'address:reserved'],
    ['documentation 198.51.100/24', 'https://198.51.100.7/', 'address:reserved'],
    ['documentation 203.0.113/24', 'https://203.0.113.9/', 'address:reserved'],
    ['benchmarking 198.18/15', 'https://198.18.0.1/', 'address:reserved'],
    ['reserved 240/4', 'https://240.0.0.1/', 'address:reserved'],
    ['IPv6 unspecified', 'https://[::]/', 'address:unspecified'],
    ['IPv6 link-local', 'https://[fe80::1]/', 'address:linkLocal'],
    ['IPv6 unique-local', 'https://[fd12:3456::1]/', 'address:uniqueLocal'],
    ['IPv6 multicast', 'https://[ff02::1]/', 'address:multicast'],
    ['IPv6 documentation', 'https://[2001:db8::1]/', 'address:reserved'],
    ['IPv4-compatible ::127.0.0.1', 'https://[::127.0.0.1]/', 'address:not_global_unicast'],
    ['IPv4-compatible public ::93.184.215.14', 'https://[::93.184.215.14]/', 'address:not_global_unicast'],
    ['NAT64 of loopback', 'https://[64:ff9b::127.0.0.1]/', 'address:nat64(loopback)'],
    ['NAT64 of private', 'https://[64:ff9b::10.0.0.1]/', 'address:nat64(private)'],
    ['local-use NAT64', 'https://[64:ff9b:1::5db8:d70e]/', 'address:rfc6052'],
    ['6to4 of loopback', 'https://[2002:7f00:1::1]/', 'address:6to4(loopback)'],
    ['6to4 of metadata', 'https://[2002:a9fe:a9fe::1]/', 'address:6to4(linkLocal)'],
    ['Teredo', 'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', 'address:teredo'],
    ['SIIT ::ffff:0:a.b.c.d', 'https://[::ffff:0:7f00:1]/', 'address:rfc6145'],
    ['a name that resolves to loopback', 'https://loopback.example.com/hook', 'address:loopback'],
    ['a name with one public and one private address', 'https://mixed.example.com/hook', 'address:private'],
    ['a name with one public and one unique-local IPv6 address', 'https://mixed6.example.com/', 'address:uniqueLocal'],
    ['a name that resolves to cloud metadata', 'https://metadata.example.com/', 'address:linkLocal'],
    ['a name that resolves to IPv4-mapped loopback', 'https://mapped.example.com/', 'address:ipv4Mapped(loopback)'],
    ['a name that does not resolve', 'https://unknown.example.com/', 'unresolvable'],
    ['a name with no address', 'https://nothing.example.com/', 'unresolvable'],
    ['plain http to a public host', 'http://example.com/hook', 'scheme'],
    ['ftp', 'ftp://example.com/hook', 'scheme'],
    ['file', 'file:///etc/passwd', 'scheme'],
    ['javascript', 'javascript:alert(1)', 'scheme'],
    ['userinfo', 'https://user:pass@example.com/hook', 'userinfo'],
    ['username only', 'https://user@example.com/hook', 'userinfo'],
    ['not a URL', 'example.com/hook', 'unparseable'],
    ['empty', '', 'length'],
    ['too long', `https://example.com/${'a'.repeat(2100)}`, 'length'],
  ])('%s', async (_what, url, reason) => {
    expect(await refusal(url)).toBe(reason);
  });

  it('https://localhost/ through the real system resolver', async () => {
    const reason = await refusal('https://localhost/', { allowPrivate: false });
    expect(reason).toBe('address:loopback');
  });

  it('keeps refusing link-local, metadata, unspecified and CGNAT with allowPrivate', async () => {
    for (const url of ['https://169.254.169.254/', 'https://[fe80::1]/', 'https://0.0.0.0/', 'https://[::]/', 'https://100.64.0.1/', 'https://224.0.0.1/', 'https://metadata.example.com/']) {
      expect(await refusal(url, dev)).toMatch(/^address:/);
    }
    // translated forms are judged strictly whatever the setting
    expect(await refusal('https://[64:ff9b::127.0.0.1]/', dev)).toBe('address:nat64(loopback)');
    expect(await refusal('https://[2002:c0a8:101::1]/', dev)).toBe('address:6to4(private)');
    expect(await refusal('ftp://127.0.0.1/', dev)).toBe('scheme');
    expect(await refusal('http://user@127.0.0.1/', dev)).toBe('userinfo');
  });
});

describe('validateWebhookUrl accepts', () => {
  it('https://example.com/hook resolving to 93.184.215.14', async () => {
    const url = await validateWebhookUrl('https://example.com/hook', strict);
    expect(url).toBeInstanceOf(URL);
    expect(url.href).toBe('https://example.com/hook');
  });

  it('any port, a query, IPv6 and dual-stack names, public literals, NAT64/6to4 of public addresses', async () => {
    for (const u of [
      'https://example.com:8443/hooks/talkie?token=abc',
      'https://v6.example.com/',
      'https://dual.example.com/',
      'https://93.184.215.14/hook',
      'https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/',
      'https://[::ffff:93.184.215.14]/',
      'https://[64:ff9b::93.184.215.14]/',
      'https://[2002:5db8:d70e::1]/',
    ]) {
      await expect(validateWebhookUrl(u, strict)).resolves.toBeInstanceOf(URL);
    }
  });

  it('normalizes the URL (the gateway stores this form)', async () => {
    expect((await validateWebhookUrl('HTTPS://Example.COM:443/a/../hook', strict)).href).toBe('https://example.com/hook');
  });

  it('with allowPrivate: loopback, private, http, localhost', async () => {
    for (const u of ['http://127.0.0.1:8080/hook', 'https://[::1]/', 'http://10.0.0.1/', 'https://192.168.1.2/', 'https://[fd00::1]/', 'https://private.example.com/', 'https://[::ffff:127.0.0.1]/']) {
      await expect(validateWebhookUrl(u, dev)).resolves.toBeInstanceOf(URL);
    }
    await expect(validateWebhookUrl('http://localhost:9999/hook', { allowPrivate: true })).resolves.toBeInstanceOf(URL);
  });

  it('times out a hanging resolver', async () => {
    const hang: Resolver = () => new Promise(() => undefined);
    expect(await refusal('https://slow.example.com/', { allowPrivate: false, resolve: hang, resolveTimeoutMs: 50 })).toBe('unresolvable');
  });
});

describe('checkAddress', () => {
  it('unwraps IPv4-mapped addresses for the connection', () => {
    expect(checkAddress('::ffff:93.184.215.14', { allowPrivate: false })).toMatchObject({ allowed: true, connect: '93.184.215.14', family: 4 });
  });
  it('refuses scoped and non-IP input', () => {
    expect(checkAddress('fe80::1%eth0', { allowPrivate: true }).allowed).toBe(false);
    expect(checkAddress('example.com', { allowPrivate: true }).allowed).toBe(false);
    expect(checkAddress('0x7f000001', { allowPrivate: true }).allowed).toBe(false);
  });
  it('parseWebhookUrl needs no network', () => {
    expect(() => parseWebhookUrl('https://127.0.0.1/', { allowPrivate: false })).toThrow(WebhookUrlRefusal);
    expect(parseWebhookUrl('https://anything.invalid/', { allowPrivate: false }).hostname).toBe('anything.invalid');
  });
});

import type { LookupAddress, LookupOptions } from 'node:dns';
import type http from 'node:http';
import type { LookupFunction } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import {
  createAgent,
  describeRoute,
  isLoopbackTarget,
  lookupWithOverrides,
  matchesNoProxy,
  proxyFor,
  redactProxyUrl,
  type NetworkOptions,
} from '../../../src/net/network.js';
import { makeCa, makeServerCert, type TestCa } from '../../fakes/certs.js';
import { startConnectProxy, type FakeConnectProxy } from '../../fakes/connect-proxy.js';
import { getJson, startHttpsServer, type FakeHttpsServer } from '../../fakes/https-server.js';
import { startSocks5Server, type FakeSocks5Server } from '../../fakes/socks5-server.js';

const TAILNET_NAME = 'ch.sandbox.byoc.internal';

/** A system resolver that must not be consulted: it records the names it was asked for and fails. */
function refusingResolver(): LookupFunction & { asked: string[] } {
  const asked: string[] = [];
  const lookup = ((hostname: string, _options: LookupOptions, callback: Parameters<LookupFunction>[2]) => {
    asked.push(hostname);
    const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
    error.code = 'ENOTFOUND';
    queueMicrotask(() => callback(error, ''));
  }) as LookupFunction & { asked: string[] };
  lookup.asked = asked;
  return lookup;
}

/** A system resolver that knows a fixed table. */
function tableResolver(table: Record<string, string>): LookupFunction & { asked: string[] } {
  const asked: string[] = [];
  const lookup = ((hostname: string, options: LookupOptions, callback: Parameters<LookupFunction>[2]) => {
    asked.push(hostname);
    const address = table[hostname];
    queueMicrotask(() => {
      if (address === undefined) {
        const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        error.code = 'ENOTFOUND';
        callback(error, '');
      } else if (options.all) callback(null, [{ address, family: 4 }]);
      else callback(null, address, 4);
    });
  }) as LookupFunction & { asked: string[] };
  lookup.asked = asked;
  return lookup;
}

function lookupOnce(
  lookup: LookupFunction,
  host: string,
  options: LookupOptions,
): Promise<{ error: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number | undefined }> {
  return new Promise((resolve) => lookup(host, options, (error, address, family) => resolve({ error, address, family })));
}

describe('proxyFor', () => {
  const target = new URL(`https://${TAILNET_NAME}:8443/`);

  it('prefers network.proxy over every environment proxy', () => {
    // Given a configured proxy and environment proxies
    const options: NetworkOptions = {
      proxy: 'socks5h://127.0.0.1:1055',
      env: { HTTPS_PROXY: 'http://127.0.0.1:3128', ALL_PROXY: 'socks5://127.0.0.1:9050' },
    };
    // When choosing the proxy for an https target
    // Then the configured one wins
    expect(proxyFor(target, options)).toEqual({
      url: 'socks5h://127.0.0.1:1055',
      kind: 'socks5h',
      source: 'config',
      from: 'network.proxy',
    });
  });

  it('takes HTTPS_PROXY for https targets, HTTP_PROXY for http targets, then ALL_PROXY', () => {
    // Given all three variables
    const env = {
      HTTPS_PROXY: 'http://127.0.0.1:3128',
      HTTP_PROXY: 'http://127.0.0.1:3129',
      ALL_PROXY: 'socks5h://127.0.0.1:1055',
    };
    // When choosing for each scheme, and for https with only ALL_PROXY
    // Then the scheme's own variable wins, and ALL_PROXY fills in
    expect(proxyFor(target, { env })).toMatchObject({ url: 'http://127.0.0.1:3128/', source: 'env', from: 'HTTPS_PROXY' });
    expect(proxyFor(new URL('http://broker.example.com/'), { env })).toMatchObject({ from: 'HTTP_PROXY', kind: 'http' });
    expect(proxyFor(target, { env: { ALL_PROXY: env.ALL_PROXY } })).toMatchObject({ kind: 'socks5h', from: 'ALL_PROXY' });
  });

  it('reads the lower-case spelling first, ignores empty values and reads a scheme-less value as http', () => {
    // Given both spellings, an empty one, and a proxy written without a scheme
    // When choosing
    // Then lower case wins, empty counts as unset, and host:port means an HTTP proxy
    expect(
      proxyFor(target, { env: { https_proxy: 'http://127.0.0.1:1', HTTPS_PROXY: 'http://127.0.0.1:2' } }),
    ).toMatchObject({ url: 'http://127.0.0.1:1/', from: 'https_proxy' });
    expect(proxyFor(target, { env: { https_proxy: '', all_proxy: 'socks5://127.0.0.1:1080' } })).toMatchObject({
      from: 'all_proxy',
      kind: 'socks5',
    });
    expect(proxyFor(target, { env: { HTTPS_PROXY: '127.0.0.1:3128' } })).toMatchObject({
      url: 'http://127.0.0.1:3128/',
      kind: 'http',
    });
  });

  it('has no proxy without configuration or environment', () => {
    expect(proxyFor(target, { env: {} })).toBeUndefined();
  });

  it('honours NO_PROXY for environment proxies but not for network.proxy', () => {
    // Given NO_PROXY listing the tailnet domain
    const env = { HTTPS_PROXY: 'http://127.0.0.1:3128', NO_PROXY: 'localhost,.byoc.internal' };
    // When choosing with only the environment, then with a configured proxy as well
    // Then the environment proxy is skipped, the configured one is not
    expect(proxyFor(target, { env })).toBeUndefined();
    expect(proxyFor(new URL('https://other.example.com/'), { env })).toMatchObject({ from: 'HTTPS_PROXY' });
    expect(proxyFor(target, { env, proxy: 'socks5h://127.0.0.1:1055' })).toMatchObject({ source: 'config' });
  });

  it('never sends loopback targets through an environment proxy, even by override', () => {
    // Given an environment proxy
    const env = { ALL_PROXY: 'socks5h://127.0.0.1:1055' };
    // When the target is loopback by address, by name, or through a resolve override
    // Then there is no proxy; a configured proxy still applies
    for (const url of ['https://127.0.0.1:8443/', 'https://127.8.9.10/', 'https://[::1]:8443/', 'http://localhost:8123/']) {
      expect(proxyFor(new URL(url), { env }), url).toBeUndefined();
    }
    expect(proxyFor(target, { env, resolve: { [TAILNET_NAME]: '127.0.0.1' } })).toBeUndefined();
    expect(proxyFor(target, { env, resolve: { [TAILNET_NAME]: '100.64.0.7' } })).toMatchObject({ from: 'ALL_PROXY' });
    expect(proxyFor(new URL('https://127.0.0.1/'), { env, proxy: 'socks5h://127.0.0.1:1055' })).toMatchObject({
      source: 'config',
    });
  });

  it('refuses a malformed or unsupported proxy with a ConfigError naming where it came from', () => {
    // Given a SOCKS4 proxy in the environment and a malformed configured proxy
    // When choosing
    // Then each is a configuration error that names its source and gives a hint
    const fromEnv = (): unknown => proxyFor(target, { env: { ALL_PROXY: 'socks4://127.0.0.1:1080' } });
    expect(fromEnv).toThrow(ConfigError);
    expect(fromEnv).toThrow(/ALL_PROXY/);
    try {
      proxyFor(target, { env: {}, proxy: 'socks5h://' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain('network.proxy');
      expect((error as ConfigError).hint).toBeTruthy();
    }
  });
});

describe('matchesNoProxy', () => {
  it.each([
    ['*', 'https://anything.example.com/', true],
    ['byoc.internal', `https://${TAILNET_NAME}/`, true],
    ['.byoc.internal', `https://${TAILNET_NAME}/`, true],
    ['*.byoc.internal', `https://${TAILNET_NAME}/`, true],
    ['BYOC.INTERNAL.', `https://${TAILNET_NAME}/`, true],
    ['xbyoc.internal', 'https://byoc.internal/', false],
    ['byoc.internal', 'https://notbyoc.internal/', false],
    [`${TAILNET_NAME}:8443`, `https://${TAILNET_NAME}:8443/`, true],
    [`${TAILNET_NAME}:9000`, `https://${TAILNET_NAME}:8443/`, false],
    [`${TAILNET_NAME}:443`, `https://${TAILNET_NAME}/`, true],
    ['100.64.0.0/10', 'https://100.100.1.2/', true],
    ['100.64.0.0/10', 'https://10.0.0.1/', false],
    ['100.64.0.7', 'https://100.64.0.7:8443/', true],
    ['fd7a:115c:a1e0::/48', 'https://[fd7a:115c:a1e0::7]/', true],
    ['[fd7a:115c:a1e0::7]:8443', 'https://[fd7a:115c:a1e0::7]:8443/', true],
    ['  , ,', 'https://example.com/', false],
  ])('NO_PROXY=%j against %s -> %s', (noProxy, url, expected) => {
    // Given a NO_PROXY value, When matching a URL, Then the entry semantics hold
    expect(matchesNoProxy(new URL(url), noProxy)).toBe(expected);
  });

  it('matches address entries against the override address of a name', () => {
    // Given a name overridden into the tailnet range
    // When NO_PROXY lists the range
    // Then the name matches through its override
    expect(matchesNoProxy(new URL(`https://${TAILNET_NAME}/`), '100.64.0.0/10', { [TAILNET_NAME]: '100.64.0.7' })).toBe(true);
    expect(matchesNoProxy(new URL(`https://${TAILNET_NAME}/`), '100.64.0.0/10')).toBe(false);
  });
});

describe('isLoopbackTarget', () => {
  it('knows localhost, 127/8, ::1 and IPv4-mapped loopback, and nothing else', () => {
    for (const host of ['localhost', 'LOCALHOST.', 'api.localhost', '127.0.0.1', '127.255.0.1', '::1', '[::ffff:7f00:1]']) {
      expect(isLoopbackTarget(host), host).toBe(true);
    }
    for (const host of ['10.0.0.1', '1.127.0.1', '100.64.0.7', '::2', 'localhost.example.com', TAILNET_NAME]) {
      expect(isLoopbackTarget(host), host).toBe(false);
    }
  });
});

describe('lookupWithOverrides', () => {
  it('answers overridden names case-insensitively and tolerates a trailing dot', async () => {
    // Given an override and a system resolver that must not be asked
    const system = refusingResolver();
    const lookup = lookupWithOverrides({ [TAILNET_NAME]: '100.64.0.7' }, system);
    // When looking up variants of the name, one and all addresses
    // Then the override answers in both callback shapes
    expect(await lookupOnce(lookup, 'CH.Sandbox.BYOC.internal.', {})).toEqual({
      error: null,
      address: '100.64.0.7',
      family: 4,
    });
    expect((await lookupOnce(lookup, TAILNET_NAME, { all: true })).address).toEqual([{ address: '100.64.0.7', family: 4 }]);
    expect(system.asked).toEqual([]);
  });

  it('accepts the legacy (hostname, family, callback) and (hostname, callback) forms', async () => {
    const lookup = lookupWithOverrides({ [TAILNET_NAME]: 'fd7a:115c:a1e0::7' }, refusingResolver()) as unknown as (
      ...args: unknown[]
    ) => void;
    const viaFamily = await new Promise((resolve) => lookup(TAILNET_NAME, 6, (_e: unknown, a: string) => resolve(a)));
    const viaCallback = await new Promise((resolve) => lookup(TAILNET_NAME, (_e: unknown, a: string) => resolve(a)));
    expect(viaFamily).toBe('fd7a:115c:a1e0::7');
    expect(viaCallback).toBe('fd7a:115c:a1e0::7');
  });

  it('finds nothing when the other address family is asked for, like an /etc/hosts entry', async () => {
    const lookup = lookupWithOverrides({ [TAILNET_NAME]: '100.64.0.7' }, refusingResolver());
    const { error } = await lookupOnce(lookup, TAILNET_NAME, { family: 6 });
    expect(error?.code).toBe('ENOTFOUND');
  });

  it('falls back to the system resolver for every other name, passing the options through', async () => {
    // Given a resolver that knows another name
    const system = tableResolver({ 'broker.example.com': '192.0.2.10' });
    const lookup = lookupWithOverrides({ [TAILNET_NAME]: '100.64.0.7' }, system);
    // When looking it up with all: true
    // Then the system resolver answered
    expect((await lookupOnce(lookup, 'broker.example.com', { all: true })).address).toEqual([
      { address: '192.0.2.10', family: 4 },
    ]);
    expect(system.asked).toEqual(['broker.example.com']);
  });

  it('refuses an override that is not an IP address', () => {
    expect(() => lookupWithOverrides({ [TAILNET_NAME]: 'not-an-ip' })).toThrow(ConfigError);
  });
});

describe('describeRoute', () => {
  it('says how the name resolves and which proxy carries it, without credentials', () => {
    const url = new URL(`https://${TAILNET_NAME}:8443/`);
    expect(describeRoute(url, { env: {}, resolve: { [TAILNET_NAME]: '100.64.0.7' } })).toEqual({
      host: TAILNET_NAME,
      port: 8443,
      resolvedVia: 'override',
      address: '100.64.0.7',
    });
    expect(describeRoute(url, { env: {}, proxy: 'socks5h://user:secret@127.0.0.1:1055' })).toEqual({
      host: TAILNET_NAME,
      port: 8443,
      resolvedVia: 'proxy',
      proxy: 'socks5h://user:***@127.0.0.1:1055',
      proxySource: 'config',
      proxyFrom: 'network.proxy',
    });
    expect(describeRoute(url, { env: {}, proxy: 'socks5://127.0.0.1:1055' }).resolvedVia).toBe('dns');
    expect(describeRoute(new URL('https://broker.example.com/'), { env: {} })).toEqual({
      host: 'broker.example.com',
      port: 443,
      resolvedVia: 'dns',
    });
    expect(describeRoute(new URL('http://[::1]:8123/'), { env: { ALL_PROXY: 'http://127.0.0.1:3128' } })).toEqual({
      host: '::1',
      port: 8123,
      resolvedVia: 'literal',
      address: '::1',
    });
  });

  it('redacts passwords in malformed URLs too', () => {
    expect(redactProxyUrl('socks5h://user:secret@')).not.toContain('secret');
  });
});

describe('createAgent against an in-process HTTPS server', () => {
  let ca: TestCa;
  let server: FakeHttpsServer;
  let socks: FakeSocks5Server;
  let connectProxy: FakeConnectProxy;
  let otherConnectProxy: FakeConnectProxy;
  const agents: http.Agent[] = [];

  beforeAll(async () => {
    ca = makeCa();
    server = await startHttpsServer(makeServerCert(ca, [TAILNET_NAME]));
    // The proxies know the tailnet name, as tailscaled does; this machine's resolver does not.
    socks = await startSocks5Server({ [TAILNET_NAME]: '127.0.0.1' });
    connectProxy = await startConnectProxy({ [TAILNET_NAME]: '127.0.0.1' });
    otherConnectProxy = await startConnectProxy({ [TAILNET_NAME]: '127.0.0.1' });
  });

  afterEach(() => {
    for (const agent of agents.splice(0)) agent.destroy();
    socks.targets.length = 0;
    connectProxy.targets.length = 0;
    otherConnectProxy.targets.length = 0;
    server.servernames.length = 0;
  });

  afterAll(async () => {
    await Promise.all([server.close(), socks.close(), connectProxy.close(), otherConnectProxy.close()]);
  });

  const url = (path = '/ping'): URL => new URL(`https://${TAILNET_NAME}:${server.port}${path}`);
  async function agentFor(target: URL, options: NetworkOptions, tls: Parameters<typeof createAgent>[2] = {}) {
    const agent = await createAgent(target, options, tls);
    agents.push(agent);
    return agent;
  }

  it('connects directly to an overridden name, keeps it as SNI and verifies against the given CA', async () => {
    // Given an override for a name no resolver knows, and the test CA
    const system = refusingResolver();
    const options = { env: {}, resolve: { [TAILNET_NAME]: '127.0.0.1' }, dnsLookup: system };
    // When requesting through the agent
    const agent = await agentFor(url(), options, { ca: ca.certPem });
    const response = await getJson(url(), { agent });
    // Then the server answered, saw the original name as SNI, and no resolver was asked
    expect(response).toEqual({ status: 200, body: { servername: TAILNET_NAME, path: '/ping' } });
    expect(system.asked).toEqual([]);
  });

  it('verifies certificates by default: without the CA the request fails', async () => {
    // Given no CA (the system store does not know the test CA)
    const agent = await agentFor(url(), { env: {}, resolve: { [TAILNET_NAME]: '127.0.0.1' } });
    // When requesting, Then TLS verification rejects the server
    await expect(getJson(url(), { agent })).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('checks the certificate against the servername given in the TLS options', async () => {
    // Given the server reached by IP literal and the servername set to the certificate's name
    const byAddress = new URL(`https://127.0.0.1:${server.port}/ip`);
    const agent = await agentFor(byAddress, { env: {} }, { ca: ca.certPem, servername: TAILNET_NAME });
    // When requesting, Then it succeeds and the server saw that name
    expect(await getJson(byAddress, { agent })).toMatchObject({ status: 200, body: { servername: TAILNET_NAME } });
  });

  it('sends the name unresolved to a socks5h proxy', async () => {
    // Given a socks5h proxy and no override: only the proxy knows the name
    const system = refusingResolver();
    const agent = await agentFor(url(), { env: {}, proxy: socks.url('socks5h'), dnsLookup: system }, { ca: ca.certPem });
    // When requesting
    const response = await getJson(url(), { agent });
    // Then the proxy received the domain name, nothing was resolved locally, and SNI is the name
    expect(response).toMatchObject({ status: 200, body: { servername: TAILNET_NAME } });
    expect(socks.targets).toEqual([{ addressType: 'domain', host: TAILNET_NAME, port: server.port }]);
    expect(system.asked).toEqual([]);
  });

  it('sends the override IP to a socks5 proxy, with SNI kept on the name', async () => {
    // Given a socks5 proxy (local resolution) and an override
    const system = refusingResolver();
    const options = { env: {}, proxy: socks.url('socks5'), resolve: { [TAILNET_NAME]: '127.0.0.1' }, dnsLookup: system };
    const agent = await agentFor(url(), options, { ca: ca.certPem });
    // When requesting
    const response = await getJson(url(), { agent });
    // Then the proxy was asked for the IP address and the server still saw the name
    expect(response).toMatchObject({ status: 200, body: { servername: TAILNET_NAME } });
    expect(socks.targets).toEqual([{ addressType: 'ipv4', host: '127.0.0.1', port: server.port }]);
    expect(system.asked).toEqual([]);
  });

  it('resolves locally through the system resolver for socks5 when there is no override', async () => {
    // Given a socks5 proxy and a system resolver that knows the name
    const system = tableResolver({ [TAILNET_NAME]: '127.0.0.1' });
    const agent = await agentFor(url(), { env: {}, proxy: socks.url('socks5'), dnsLookup: system }, { ca: ca.certPem });
    // When requesting, Then the proxy saw the locally resolved address
    expect(await getJson(url(), { agent })).toMatchObject({ status: 200 });
    expect(system.asked).toEqual([TAILNET_NAME]);
    expect(socks.targets).toEqual([{ addressType: 'ipv4', host: '127.0.0.1', port: server.port }]);
  });

  it('lets an override win over proxy-side resolution with socks5h too', async () => {
    // Given socks5h and an override
    const options = { env: {}, proxy: socks.url('socks5h'), resolve: { [TAILNET_NAME]: '127.0.0.1' } };
    const agent = await agentFor(url(), options, { ca: ca.certPem });
    // When requesting, Then the override address went to the proxy
    expect(await getJson(url(), { agent })).toMatchObject({ status: 200, body: { servername: TAILNET_NAME } });
    expect(socks.targets).toEqual([{ addressType: 'ipv4', host: '127.0.0.1', port: server.port }]);
  });

  it('tunnels through an HTTP CONNECT proxy, which resolves names without an override', async () => {
    // Given an HTTP proxy and no override
    const agent = await agentFor(url(), { env: {}, proxy: connectProxy.url }, { ca: ca.certPem });
    // When requesting
    const response = await getJson(url(), { agent });
    // Then CONNECT named the host, and TLS was end to end with the name as SNI
    expect(response).toMatchObject({ status: 200, body: { servername: TAILNET_NAME } });
    expect(connectProxy.targets).toEqual([`${TAILNET_NAME}:${server.port}`]);
  });

  it('CONNECTs to the override IP when the name has one, keeping SNI on the name', async () => {
    const options = { env: {}, proxy: connectProxy.url, resolve: { [TAILNET_NAME]: '127.0.0.1' } };
    const agent = await agentFor(url(), options, { ca: ca.certPem });
    expect(await getJson(url(), { agent })).toMatchObject({ status: 200, body: { servername: TAILNET_NAME } });
    expect(connectProxy.targets).toEqual([`127.0.0.1:${server.port}`]);
  });

  it('keeps verification on through a proxy', async () => {
    // Given a CONNECT proxy and no CA
    const agent = await agentFor(url(), { env: {}, proxy: connectProxy.url });
    // When requesting, Then the certificate is rejected
    await expect(getJson(url(), { agent })).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('picks up HTTPS_PROXY and ALL_PROXY from the environment it is given', async () => {
    // Given HTTPS_PROXY, then only ALL_PROXY
    const viaHttps = await agentFor(url(), { env: { HTTPS_PROXY: connectProxy.url } }, { ca: ca.certPem });
    const viaAll = await agentFor(url(), { env: { ALL_PROXY: socks.url('socks5h') } }, { ca: ca.certPem });
    // When requesting with each, Then each proxy carried its request
    expect(await getJson(url(), { agent: viaHttps })).toMatchObject({ status: 200 });
    expect(await getJson(url(), { agent: viaAll })).toMatchObject({ status: 200 });
    expect(connectProxy.targets).toEqual([`${TAILNET_NAME}:${server.port}`]);
    expect(socks.targets).toEqual([{ addressType: 'domain', host: TAILNET_NAME, port: server.port }]);
  });

  it('goes direct for NO_PROXY matches and loopback targets despite an environment proxy', async () => {
    // Given an environment proxy, a NO_PROXY entry for the tailnet domain, and a loopback target
    const env = { HTTPS_PROXY: connectProxy.url, NO_PROXY: '.sandbox.byoc.internal' };
    const exempt = await agentFor(url(), { env, resolve: { [TAILNET_NAME]: '127.0.0.1' } }, { ca: ca.certPem });
    const loopback = new URL(`https://127.0.0.1:${server.port}/`);
    const direct = await agentFor(loopback, { env: { HTTPS_PROXY: connectProxy.url } }, { ca: ca.certPem, servername: TAILNET_NAME });
    // When requesting
    expect(await getJson(url(), { agent: exempt })).toMatchObject({ status: 200 });
    expect(await getJson(loopback, { agent: direct })).toMatchObject({ status: 200 });
    // Then the proxy saw nothing
    expect(connectProxy.targets).toEqual([]);
  });

  it("resolves the proxy's own host name through the overrides", async () => {
    // Given proxies named by a tailnet-style name that only the overrides know
    const resolve = { 'proxy.sandbox.byoc.internal': '127.0.0.1' };
    const viaSocks = await agentFor(
      url(),
      { env: {}, resolve, proxy: `socks5h://proxy.sandbox.byoc.internal:${socks.port}`, dnsLookup: refusingResolver() },
      { ca: ca.certPem },
    );
    const viaConnect = await agentFor(
      url(),
      { env: {}, resolve, proxy: `http://proxy.sandbox.byoc.internal:${connectProxy.port}`, dnsLookup: refusingResolver() },
      { ca: ca.certPem },
    );
    // When requesting through each, Then both proxies were reached and carried the request
    expect(await getJson(url(), { agent: viaSocks })).toMatchObject({ status: 200 });
    expect(await getJson(url(), { agent: viaConnect })).toMatchObject({ status: 200 });
    expect(socks.targets).toHaveLength(1);
    expect(connectProxy.targets).toHaveLength(1);
  });

  it('turns verification off only when asked explicitly', async () => {
    // Given no CA but an explicit rejectUnauthorized: false
    const agent = await agentFor(url(), { env: {}, resolve: { [TAILNET_NAME]: '127.0.0.1' } }, { rejectUnauthorized: false });
    // When requesting, Then the untrusted server is accepted
    expect(await getJson(url(), { agent })).toMatchObject({ status: 200 });
  });

  it('uses network.proxy over the environment proxy', async () => {
    // Given a configured proxy and a different environment proxy
    const options = { env: { HTTPS_PROXY: otherConnectProxy.url }, proxy: connectProxy.url };
    const agent = await agentFor(url(), options, { ca: ca.certPem });
    // When requesting, Then only the configured proxy carried it
    expect(await getJson(url(), { agent })).toMatchObject({ status: 200 });
    expect(connectProxy.targets).toHaveLength(1);
    expect(otherConnectProxy.targets).toEqual([]);
  });
});

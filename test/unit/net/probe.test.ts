import { X509Certificate } from 'node:crypto';
import type { LookupOptions } from 'node:dns';
import http from 'node:http';
import net from 'node:net';
import type { LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { probeEndpoint, type ProbeOptions, type TcpProbe, type TlsProbe } from '../../../src/net/probe.js';
import { makeCa, makeServerCert, type TestCa } from '../../fakes/certs.js';
import { startConnectProxy, type FakeConnectProxy } from '../../fakes/connect-proxy.js';
import { startHttpsServer, type FakeHttpsServer } from '../../fakes/https-server.js';
import { startSocks5Server, type FakeSocks5Server } from '../../fakes/socks5-server.js';

// A proxy agent's first import takes 160-420 ms on a loaded machine. Make it always that slow here: a stage clock that
// counted the import would then fail the 150 ms stages below on every run, instead of now and then.
const COLD_IMPORT_MS = 450;
vi.mock('socks-proxy-agent', async (importOriginal) => {
  await (await import('node:timers/promises')).setTimeout(COLD_IMPORT_MS);
  return importOriginal();
});
vi.mock('https-proxy-agent', async (importOriginal) => {
  await (await import('node:timers/promises')).setTimeout(COLD_IMPORT_MS);
  return importOriginal();
});

const TAILNET_NAME = 'ch.sandbox.byoc.internal';
const DAY_MS = 24 * 60 * 60 * 1000;

/** A system resolver that knows nothing, so no test depends on (or leaks to) real DNS. */
const nothingResolves: LookupFunction = (hostname: string, _options: LookupOptions, callback) => {
  const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
  error.code = 'ENOTFOUND';
  queueMicrotask(() => callback(error, ''));
};

/** A clock that moves 5 ms each time it is read, from `start`: stage timings become predictable. */
function steppingClock(start: number): () => number {
  let current = start;
  return () => (current += 5);
}

function tcpOf(result: { tcp: TcpProbe | { skipped: true } }): TcpProbe {
  expect(result.tcp).not.toHaveProperty('skipped');
  return result.tcp as TcpProbe;
}

function tlsOf(result: { tls: TlsProbe | { skipped: true } }): TlsProbe {
  expect(result.tls).not.toHaveProperty('skipped');
  return result.tls as TlsProbe;
}

/** A TCP server that accepts connections and never says anything. */
async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('probeEndpoint', () => {
  const base = Date.now();
  let ca: TestCa;
  let good: FakeHttpsServer;
  let goodCertPem: string;
  let mismatched: FakeHttpsServer;
  let expired: FakeHttpsServer;
  let plainHttp: http.Server;
  let plainHttpPort: number;
  let silent: Awaited<ReturnType<typeof startSilentServer>>;
  let socks: FakeSocks5Server;
  let connectProxy: FakeConnectProxy;

  beforeAll(async () => {
    ca = makeCa();
    const goodCert = makeServerCert(ca, [TAILNET_NAME], {
      notBefore: new Date(base - DAY_MS),
      notAfter: new Date(base + 30 * DAY_MS + 12 * 60 * 60 * 1000),
    });
    goodCertPem = goodCert.certPem;
    good = await startHttpsServer(goodCert);
    mismatched = await startHttpsServer(makeServerCert(ca, ['other.sandbox.byoc.internal']));
    expired = await startHttpsServer(
      makeServerCert(ca, [TAILNET_NAME], { notBefore: new Date(base - 10 * DAY_MS), notAfter: new Date(base - 2 * DAY_MS) }),
    );
    plainHttp = http.createServer((_request, response) => response.end('plain'));
    await new Promise<void>((resolve) => plainHttp.listen(0, '127.0.0.1', resolve));
    plainHttpPort = (plainHttp.address() as net.AddressInfo).port;
    silent = await startSilentServer();
    socks = await startSocks5Server({ [TAILNET_NAME]: '127.0.0.1' });
    connectProxy = await startConnectProxy({ [TAILNET_NAME]: '127.0.0.1' });
  });

  afterAll(async () => {
    plainHttp.closeAllConnections();
    await Promise.all([
      good.close(),
      mismatched.close(),
      expired.close(),
      new Promise((resolve) => plainHttp.close(resolve)),
      silent.close(),
      socks.close(),
      connectProxy.close(),
    ]);
  });

  const options = (overrides: Partial<ProbeOptions> = {}): ProbeOptions => ({
    env: {},
    resolve: { [TAILNET_NAME]: '127.0.0.1' },
    dnsLookup: nothingResolves,
    timeoutMs: 2000,
    ca: ca.certPem,
    now: steppingClock(base),
    ...overrides,
  });
  const tailnetUrl = (port: number): URL => new URL(`https://${TAILNET_NAME}:${port}/`);

  it('reports DNS, TCP and TLS with timings from the injected clock and the certificate details', async () => {
    // Given the overridden tailnet name served with a certificate from the test CA
    // When probing it
    const result = await probeEndpoint(tailnetUrl(good.port), options());
    // Then every stage passed, timed by the injected clock (5 ms per read)
    expect(result.ok).toBe(true);
    expect(result.dns).toEqual({ ok: true, ms: 5, source: 'override', addresses: ['127.0.0.1'] });
    expect(tcpOf(result)).toEqual({ ok: true, ms: 5, address: '127.0.0.1', port: good.port });
    const tls = tlsOf(result);
    expect(tls).toMatchObject({
      ok: true,
      ms: 5,
      servername: TAILNET_NAME,
      protocol: 'TLSv1.3',
      authorized: true,
      nameMatches: true,
    });
    expect(tls.cipher).toMatch(/^TLS_/);
    expect(tls.error).toBeUndefined();
    // And the certificate is described: subject, issuer, validity, days left, fingerprint, names
    const x509 = new X509Certificate(goodCertPem);
    expect(tls.peerCertificate).toEqual({
      subject: `CN=${TAILNET_NAME}`,
      issuer: 'CN=byoc test CA, O=byoc tests',
      validFrom: new Date(x509.validFrom).toISOString(),
      validTo: new Date(x509.validTo).toISOString(),
      daysRemaining: 30,
      fingerprint256: x509.fingerprint256,
      san: [`DNS:${TAILNET_NAME}`],
    });
    // And the route says how the name was reached
    expect(result.route).toEqual({ host: TAILNET_NAME, port: good.port, resolvedVia: 'override', address: '127.0.0.1' });
  });

  it('collects the certificate of an untrusted server and says why it is not trusted', async () => {
    // Given no CA for a server whose CA is not in the default store
    const { ca: _withoutCa, ...rest } = options();
    // When probing
    const result = await probeEndpoint(tailnetUrl(good.port), rest);
    // Then TLS completed but is not ok: not authorized, with the reason, the certificate and the name check
    const tls = tlsOf(result);
    expect(result.ok).toBe(false);
    expect(tls).toMatchObject({
      ok: false,
      authorized: false,
      authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      nameMatches: true,
      error: { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    });
    expect(tls.error?.message).toContain('not trusted');
    expect(tls.peerCertificate?.subject).toBe(`CN=${TAILNET_NAME}`);
  });

  it('reports a certificate that does not name the server', async () => {
    // Given a trusted certificate issued for another name
    const result = await probeEndpoint(tailnetUrl(mismatched.port), options());
    // Then the name does not match, and the error says which names the certificate holds
    const tls = tlsOf(result);
    expect(tls).toMatchObject({
      ok: false,
      nameMatches: false,
      authorized: false,
      authorizationError: 'ERR_TLS_CERT_ALTNAME_INVALID',
      error: { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    });
    expect(tls.error?.message).toContain('DNS:other.sandbox.byoc.internal');
  });

  it('reports an expired certificate with negative days remaining', async () => {
    const result = await probeEndpoint(tailnetUrl(expired.port), options());
    const tls = tlsOf(result);
    expect(tls).toMatchObject({ ok: false, authorizationError: 'CERT_HAS_EXPIRED', error: { code: 'CERT_HAS_EXPIRED' } });
    expect(tls.peerCertificate?.daysRemaining).toBeLessThanOrEqual(-2);
    expect(tls.error?.message).toContain('expired');
  });

  it('checks the certificate against the given servername when probing an address', async () => {
    // Given the server reached by IP literal, with the certificate's name as servername
    const result = await probeEndpoint(new URL(`https://127.0.0.1:${good.port}/`), options({ servername: TAILNET_NAME }));
    // Then DNS is the literal and TLS passes on that name
    expect(result.dns).toMatchObject({ ok: true, source: 'literal', addresses: ['127.0.0.1'] });
    expect(tlsOf(result)).toMatchObject({ ok: true, servername: TAILNET_NAME, nameMatches: true });
  });

  it('reports a closed port as a TCP failure and skips TLS', async () => {
    // Given a port nothing listens on
    const port = await closedPort();
    // When probing it
    const result = await probeEndpoint(tailnetUrl(port), options());
    // Then TCP failed with ECONNREFUSED and TLS was skipped
    expect(result.ok).toBe(false);
    expect(tcpOf(result)).toMatchObject({ ok: false, address: '127.0.0.1', port, error: { code: 'ECONNREFUSED' } });
    expect(tcpOf(result).error?.message).toContain('refused');
    expect(result.tls).toEqual({ skipped: true, reason: 'the TCP connection failed' });
  });

  it('reports a name that does not resolve as a DNS failure and skips the rest', async () => {
    // Given a name with no override and a resolver that does not know it
    const result = await probeEndpoint(new URL('https://nowhere.sandbox.byoc.internal/'), options());
    // Then DNS failed with ENOTFOUND and both later stages were skipped
    expect(result.dns).toMatchObject({ ok: false, source: 'dns', addresses: [], error: { code: 'ENOTFOUND' } });
    expect(result.dns.error?.message).toContain('nowhere.sandbox.byoc.internal');
    expect(result.tcp).toEqual({ skipped: true, reason: 'DNS resolution failed' });
    expect(result.tls).toMatchObject({ skipped: true });
  });

  it('reports a server that does not speak TLS', async () => {
    const result = await probeEndpoint(tailnetUrl(plainHttpPort), options());
    expect(tcpOf(result).ok).toBe(true);
    expect(tlsOf(result)).toMatchObject({ ok: false, authorized: false });
    expect(tlsOf(result).error?.message).toMatch(/TLS|SSL|version/i);
  });

  it('times out a TLS handshake the server never answers', async () => {
    // Given a server that accepts and stays silent, and a short stage limit
    const result = await probeEndpoint(tailnetUrl(silent.port), options({ timeoutMs: 150 }));
    // Then TCP passed and TLS timed out
    expect(tcpOf(result).ok).toBe(true);
    expect(tlsOf(result)).toMatchObject({ ok: false, error: { code: 'ETIMEDOUT' } });
  });

  it('keeps a proxy tunnel open for the whole TLS stage', async () => {
    // Given each kind of proxy in front of a server that accepts and never answers TLS
    for (const proxy of [socks.url('socks5'), connectProxy.url]) {
      // When probing with a short limit
      const result = await probeEndpoint(tailnetUrl(silent.port), options({ proxy, timeoutMs: 150 }));
      // Then the tunnel stood and the TLS stage ran into its own limit (the tunnel was not cut under it)
      expect(tcpOf(result).ok, proxy).toBe(true);
      expect(tlsOf(result), proxy).toMatchObject({ ok: false, error: { code: 'ETIMEDOUT' } });
    }
  });

  it('skips TLS for an http:// endpoint and still succeeds', async () => {
    const result = await probeEndpoint(new URL(`http://${TAILNET_NAME}:${plainHttpPort}/`), options());
    expect(result.ok).toBe(true);
    expect(result.tls).toEqual({ skipped: true, reason: 'not a TLS endpoint (http://)' });
  });

  it('times the SOCKS5 tunnel as the TCP stage and leaves the name to a socks5h proxy', async () => {
    // Given a socks5h proxy and no override
    const probeOptions = options({ proxy: socks.url('socks5h'), resolve: {} });
    // When probing
    const result = await probeEndpoint(tailnetUrl(good.port), probeOptions);
    // Then DNS was left to the proxy, the tunnel was established, and TLS passed end to end
    expect(result.ok).toBe(true);
    expect(result.dns).toEqual({ ok: true, ms: 0, source: 'proxy', addresses: [] });
    expect(tcpOf(result)).toMatchObject({ ok: true, address: TAILNET_NAME, port: good.port, proxy: socks.url('socks5h') });
    expect(tlsOf(result)).toMatchObject({ ok: true, nameMatches: true });
    expect(socks.targets.at(-1)).toEqual({ addressType: 'domain', host: TAILNET_NAME, port: good.port });
  });

  it('tunnels through an HTTP CONNECT proxy to the override address', async () => {
    const result = await probeEndpoint(tailnetUrl(good.port), options({ proxy: connectProxy.url }));
    expect(result.ok).toBe(true);
    expect(result.dns).toMatchObject({ source: 'override', addresses: ['127.0.0.1'] });
    expect(tcpOf(result)).toMatchObject({ ok: true, address: '127.0.0.1', proxy: `${connectProxy.url}/` });
    expect(connectProxy.targets.at(-1)).toBe(`127.0.0.1:${good.port}`);
  });

  it('reports a proxy that cannot reach the target as a tunnel failure', async () => {
    // Given names neither proxy knows
    const unknown = new URL(`https://nowhere.sandbox.byoc.internal:${good.port}/`);
    // When probing through each proxy
    const viaSocks = await probeEndpoint(unknown, options({ proxy: socks.url('socks5h'), resolve: {} }));
    const viaConnect = await probeEndpoint(unknown, options({ proxy: connectProxy.url, resolve: {} }));
    // Then the TCP stage failed with the proxy's answer and TLS was skipped
    expect(tcpOf(viaSocks)).toMatchObject({ ok: false, error: { code: 'EPROXY' } });
    expect(tcpOf(viaSocks).error?.message).toMatch(/could not connect to nowhere\.sandbox\.byoc\.internal:\d+: host unreachable \(4\)/);
    expect(tcpOf(viaConnect)).toMatchObject({ ok: false, error: { code: 'EPROXY' } });
    expect(tcpOf(viaConnect).error?.message).toContain('502');
    expect(viaConnect.tls).toMatchObject({ skipped: true });
  });

  it('says so when the proxy itself is not running', async () => {
    const port = await closedPort();
    for (const proxy of [`socks5h://127.0.0.1:${port}`, `http://127.0.0.1:${port}`]) {
      const result = await probeEndpoint(tailnetUrl(good.port), options({ proxy }));
      // EPROXYCONN: the proxy is unreachable, told apart from the target refusing (ECONNREFUSED)
      expect(tcpOf(result), proxy).toMatchObject({ ok: false, error: { code: 'EPROXYCONN', proxy: { url: `${proxy}${proxy.startsWith('http') ? '/' : ''}`, from: 'network.proxy' } } });
      expect(tcpOf(result).error?.message, proxy).toContain(`cannot connect to the proxy ${proxy}`);
      expect(tcpOf(result).error?.message, proxy).toContain('ECONNREFUSED');
    }
  });

  it('times out a proxy that never answers, for both kinds', async () => {
    // Given a "proxy" that accepts and stays silent
    for (const proxy of [`socks5h://127.0.0.1:${silent.port}`, `http://127.0.0.1:${silent.port}`]) {
      // When probing through it with a short limit
      const result = await probeEndpoint(tailnetUrl(good.port), options({ proxy, timeoutMs: 150 }));
      // Then the tunnel stage timed out
      expect(tcpOf(result), proxy).toMatchObject({ ok: false, error: { code: 'ETIMEDOUT' } });
    }
  });

  it('probes endpoints concurrently without mixing their results', async () => {
    // Given four different endpoints
    const closed = await closedPort();
    // When probing them at the same time
    const [ok, mismatch, refused, proxied] = await Promise.all([
      probeEndpoint(tailnetUrl(good.port), options()),
      probeEndpoint(tailnetUrl(mismatched.port), options()),
      probeEndpoint(tailnetUrl(closed), options()),
      probeEndpoint(tailnetUrl(good.port), options({ proxy: connectProxy.url })),
    ]);
    // Then each result is its own
    expect(ok.ok).toBe(true);
    expect(tlsOf(mismatch).nameMatches).toBe(false);
    expect(tcpOf(refused).error?.code).toBe('ECONNREFUSED');
    expect(tcpOf(proxied).proxy).toBeDefined();
    expect(tcpOf(ok).proxy).toBeUndefined();
  });

  it("rejects with the caller's abort reason instead of reporting it", async () => {
    // Given a signal the caller has aborted
    const controller = new AbortController();
    controller.abort(new Error('interrupted by the user'));
    // When probing, Then the probe rejects with that reason
    await expect(probeEndpoint(tailnetUrl(good.port), options({ signal: controller.signal }))).rejects.toThrow(
      'interrupted by the user',
    );
  });
});

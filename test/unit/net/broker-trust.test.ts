import { createHash, X509Certificate } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchPeerCertificate, fingerprintOf, parseFingerprint, pinnedCertificateFile } from '../../../src/net/broker-trust.js';
import { createAgent } from '../../../src/net/network.js';
import { makeCa, makeServerCert } from '../../fakes/certs.js';
import { startConnectProxy } from '../../fakes/connect-proxy.js';
import { getJson, startHttpsServer } from '../../fakes/https-server.js';

const digest = createHash('sha256').update('a certificate').digest();
const hex = digest.toString('hex').toUpperCase().match(/../g)!.join(':');
const base64 = digest.toString('base64');

describe('--fingerprint: the spellings people copy', () => {
  it.each([
    ['OpenSSH style', `SHA256:${base64.replace(/=+$/, '')}`],
    ['padded base64', `SHA256:${base64}`],
    ['base64 without the prefix', base64],
    ['base64url', base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')],
    ['colon hex (openssl)', hex],
    ['lower-case colon hex', `sha256:${hex.toLowerCase()}`],
    ['plain hex', hex.replace(/:/g, '')],
    ["openssl's whole line", `sha256 Fingerprint=${hex}`],
    ["older openssl's whole line", `SHA256 Fingerprint=${hex}`],
  ])('%s is the same fingerprint', (_label, text) => {
    // Given one digest written one way, When it is parsed, Then it is the digest, in both spellings
    expect(parseFingerprint(text)).toEqual(fingerprintOf(Buffer.from('a certificate')));
    expect(parseFingerprint(text)).toEqual({ base64: `SHA256:${base64.replace(/=+$/, '')}`, hex });
  });

  it.each([['SHA256:abc'], [hex.slice(3)], ['MD5:' + hex], [`${hex}:00`], ['AB:CD' + hex.replace(/:/g, '').slice(4)]])('%j is refused as usage (exit 2) with the accepted forms', (text) => {
    expect(() => parseFingerprint(text)).toThrow(expect.objectContaining({ code: 'invalid_fingerprint', exitCode: 2, hint: expect.stringContaining('openssl x509') }));
  });
});

describe('a pin belongs to one origin', () => {
  it('scheme, host and port make the file; the path does not', () => {
    const file = (url: string) => pinnedCertificateFile('/state', new URL(url));
    expect(file('https://broker.example:8443/')).toBe(file('https://broker.example:8443/v1'));
    expect(file('https://broker.example:8443')).not.toBe(file('https://broker.example:9443'));
    expect(file('https://broker.example:8443')).not.toBe(file('https://other.example:8443'));
    expect(path.dirname(file('https://broker.example'))).toBe('/state/trust/brokers');
  });
});

/** OpenSSL's "no trusted issuer" codes (which one depends on whether the server sends its issuer). */
const UNTRUSTED = /^UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT_LOCALLY)$/;

describe('reading and pinning a broker certificate over the network layer', () => {
  const ca = makeCa('vendor private CA');
  const otherCa = makeCa('someone else');
  const NAME = 'broker.tailnet.test';
  const servers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  it('fetchPeerCertificate reads the certificate through an HTTP CONNECT proxy, by name', async () => {
    // Given a broker certificate from a private CA, served behind a proxy that alone resolves its name
    const credentials = makeServerCert(ca, [NAME]);
    const server = await startHttpsServer(credentials);
    const proxy = await startConnectProxy({ [NAME]: '127.0.0.1' });
    servers.push(server, proxy);
    const url = new URL(`https://${NAME}:${server.port}`);
    // When byoc reads the certificate it presents
    const der = await fetchPeerCertificate(url, { proxy: proxy.url, env: {} }, { signal: new AbortController().signal, timeoutMs: 5_000 });
    // Then it is that certificate (same fingerprint as its PEM), reached through the proxy by name (the proxy resolves it)
    expect(fingerprintOf(der).hex).toBe(new X509Certificate(credentials.certPem).fingerprint256);
    expect(proxy.targets).toEqual([`${NAME}:${server.port}`]);
  });

  it('a pinned certificate is trusted by itself, verification on: another certificate for the same name is refused', async () => {
    // Given the broker's certificate pinned (no CA), and an impostor with a certificate for the same name
    const genuine = makeServerCert(ca, ['127.0.0.1']);
    const impostor = makeServerCert(otherCa, ['127.0.0.1']);
    const [real, fake] = [await startHttpsServer(genuine), await startHttpsServer(impostor)];
    servers.push(real, fake);
    const pinned = { ca: [genuine.certPem], allowPartialTrustChain: true };
    const get = async (port: number, connection: object) => {
      const url = new URL(`https://127.0.0.1:${port}/v1/health`);
      return getJson(url, { agent: await createAgent(url, { env: {} }, connection) });
    };
    // When byoc calls each with the pin, Then the genuine broker answers and the impostor is refused
    expect((await get(real.port, pinned)).status).toBe(200);
    await expect(get(fake.port, pinned)).rejects.toMatchObject({ code: expect.stringMatching(UNTRUSTED) });
    // And without the partial-chain flag the leaf alone would not do: the pin needs it
    await expect(get(real.port, { ca: [genuine.certPem] })).rejects.toMatchObject({ code: expect.stringMatching(UNTRUSTED) });
  });
});

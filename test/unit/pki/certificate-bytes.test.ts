import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { clientCertificateExtensions, createCa, issueClientCertificate, prepareClientCertificate } from '../../../src/pki/ca.js';
import { certificateBody, certificateBodyWithForge, createCsr, generateKeyPairPem, readCsr } from '../../../src/pki/x509.js';

const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

describe('certificates put together from their encoded parts', () => {
  it('are the bytes forge encodes for the same structure, in the PEM forge writes', async () => {
    // Given a CA and a client certificate it issued (its to-be-signed part and signature joined without forge)
    const { ca } = await createCa(new Date());
    const csrPem = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: 'alice@vendor.example' }]);
    // long enough that the certificate's length takes two bytes (0x82) in DER
    const identity = `${'a'.repeat(300)}@vendor.example`;
    const spec = { csrPem, identity, requestId: 'r-0123456789', notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2026-01-01T01:00:00Z') };
    for (const pem of [issueClientCertificate(ca, spec).certPem, ca.certPem]) {
      // When forge decodes its DER and encodes it again, and writes its PEM
      const der = derOf(pem);
      const reencoded = Buffer.from(forge.asn1.toDer(forge.asn1.fromDer(der.toString('binary'), { decodeBitStrings: false } as never)).getBytes(), 'binary');
      const forgePem = forge.pem.encode({ type: 'CERTIFICATE', body: der.toString('binary') }, { maxline: 64 }).replace(/\r\n/g, '\n');
      // Then both are byte for byte what byoc made, and node reads it as signed by the CA
      expect(reencoded.equals(der)).toBe(true);
      expect(pem).toBe(forgePem);
      expect(new X509Certificate(pem).verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    }
    expect(derOf(issueClientCertificate(ca, spec).certPem)[1]).toBe(0x82);
  });

  it('sign exactly the prepared to-be-signed bytes', async () => {
    // Given a prepared client certificate
    const { ca } = await createCa(new Date());
    const csrPem = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: 'alice@vendor.example' }]);
    const prepared = prepareClientCertificate(ca, { csrPem, identity: 'alice@vendor.example', requestId: 'r-1', notBefore: new Date(), notAfter: new Date(Date.now() + 3_600_000) });
    // When it is finished with a signature made elsewhere
    const { sign } = await import('node:crypto');
    const certificate = new X509Certificate(prepared.finish(sign('sha256', prepared.tbs, ca.key)).certPem);
    // Then the certificate carries those bytes as its body
    expect(derOf(certificate.toString()).includes(prepared.tbs)).toBe(true);
    expect(certificate.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });

  it.each([
    ['an ASCII identity in UTCTime', 'alice@vendor.example', '2026-01-01T00:00:00Z'],
    ['a non-ASCII identity', 'zoë.müller@vendor.example', '2026-06-30T23:59:59Z'],
    ['a long identity (two-byte lengths)', `${'x'.repeat(400)}@vendor.example`, '2026-01-01T00:00:00Z'],
    ['dates from 2050 (GeneralizedTime)', 'alice@vendor.example', '2050-01-01T00:00:00Z'],
  ])('writes a client certificate body byte for byte as forge does, for %s', async (_label, identity, from) => {
    // Given a CA and a CSR's key, and the client certificate spec the broker builds
    const { ca } = await createCa(new Date());
    const { publicKey } = readCsr(createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: 'ignored' }]));
    const urn = 'urn:byoc:request:r-0123456789';
    const spec = {
      subject: [{ name: 'commonName' as const, value: identity }, { name: 'organizationalUnitName' as const, value: urn }],
      issuer: ca.subject,
      publicKey,
      serialHex: '7f0102030405060708090a0b0c0d0e0f',
      notBefore: new Date(from),
      notAfter: new Date(Date.parse(from) + 3_600_000),
      extensions: clientCertificateExtensions(urn, ca),
      signingKey: ca.key,
    };
    // When byoc writes its body (twice: the second from the parts it remembered) and forge encodes the same spec
    const first = certificateBody(spec).der;
    const second = certificateBody(spec).der;
    // Then the bytes are the same
    expect(first.toString('hex')).toBe(certificateBodyWithForge(spec).toString('hex'));
    expect(second.equals(first)).toBe(true);
  });
});

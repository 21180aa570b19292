import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCa, issueClientCertificate, type CertificateAuthority } from '../../../src/pki/ca.js';
import { createCrl, crlDer, crlNumberFor, CRL_LIFETIME_MS, CRL_REASON } from '../../../src/pki/crl.js';
import { createCertificate, createCsr, generateKeyPairPem, keyIdentifierHex, randomSerialHex, type NameAttribute } from '../../../src/pki/x509.js';
import { tempDir } from '../../fakes/fs.js';
import { openssl } from '../access/served-broker.js';

const now = new Date();
const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
const nextUpdate = new Date(thisUpdate.getTime() + CRL_LIFETIME_MS);

/** Writes files into a fresh folder and returns their paths. */
function files(contents: Record<string, string | Buffer>): Record<string, string> {
  const dir = tempDir();
  return Object.fromEntries(
    Object.entries(contents).map(([name, content]) => {
      const file = path.join(dir, name);
      writeFileSync(file, content);
      return [name, file];
    }),
  );
}

async function clientCertificate(ca: CertificateAuthority, requestId: string): Promise<string> {
  const csrPem = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: 'alice@vendor.example' }]);
  return issueClientCertificate(ca, { csrPem, identity: 'alice@vendor.example', requestId, notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + 3_600_000) }).certPem;
}

/** An RSA CA, to show the CRL's signature algorithm follows the CA key. */
function rsaCa(): CertificateAuthority {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const subject: NameAttribute[] = [{ name: 'organizationName', value: 'byoc' }, { name: 'commonName', value: 'RSA test CA' }];
  const keyIdHex = keyIdentifierHex(createPublicKey(key));
  const certPem = createCertificate({
    subject,
    issuer: subject,
    publicKey: createPublicKey(key),
    serialHex: randomSerialHex(),
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier', keyIdentifierHex: keyIdHex },
    ],
    signingKey: key,
  });
  return { certPem, key, subject, keyIdHex };
}

describe('X.509 v2 CRLs', () => {
  it('lists a revoked serial in a v2 CRL that openssl verifies with the CA, with its extensions', async () => {
    // Given a CA and one certificate it issued, revoked
    const { ca } = await createCa(now);
    const certificate = await clientCertificate(ca, 'r-revoked001');
    const serial = new X509Certificate(certificate).serialNumber;
    // When a CRL lists it
    const pem = createCrl({ ca, thisUpdate, nextUpdate, number: 42, revoked: [{ serialHex: serial.toLowerCase(), revokedAt: thisUpdate, reason: CRL_REASON.privilegeWithdrawn }] });
    const paths = files({ 'ca.pem': ca.certPem, 'crl.pem': pem, 'cert.pem': certificate });
    // Then openssl checks its signature against the CA, and reads what byoc wrote
    expect(pem).toMatch(/^-----BEGIN X509 CRL-----\n/);
    expect(openssl(['crl', '-in', paths['crl.pem']!, '-CAfile', paths['ca.pem']!, '-noout'])).toContain('verify OK');
    const text = openssl(['crl', '-in', paths['crl.pem']!, '-noout', '-text']);
    expect(text).toContain('Version 2 (0x1)');
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(text).toContain('Issuer: O = byoc, CN = byoc access broker CA');
    expect(text).toMatch(new RegExp(`Serial Number: ${serial}\\b`));
    expect(text).toContain('Privilege Withdrawn');
    expect(text).toMatch(/X509v3 CRL Number: \n\s+42\n/);
    expect(text).toMatch(/X509v3 Authority Key Identifier: \n\s+(keyid:)?[0-9A-F:]{59}/);
    // And the revoked certificate is refused by a verifier that checks the CRL
    expect(openssl(['verify', '-crl_check', '-CRLfile', paths['crl.pem']!, '-CAfile', paths['ca.pem']!, paths['cert.pem']!])).toContain('certificate revoked');
  });

  it('makes an empty CRL that verifies and says so, lasting CRL_LIFETIME_MS', async () => {
    const { ca } = await createCa(now);
    const pem = createCrl({ ca, thisUpdate, nextUpdate, number: 1, revoked: [] });
    const paths = files({ 'ca.pem': ca.certPem, 'crl.pem': pem });
    expect(openssl(['crl', '-in', paths['crl.pem']!, '-CAfile', paths['ca.pem']!, '-noout'])).toContain('verify OK');
    expect(openssl(['crl', '-in', paths['crl.pem']!, '-noout', '-text'])).toContain('No Revoked Certificates.');
    const last = Date.parse(openssl(['crl', '-in', paths['crl.pem']!, '-noout', '-lastupdate']).split('=')[1]!);
    const next = Date.parse(openssl(['crl', '-in', paths['crl.pem']!, '-noout', '-nextupdate']).split('=')[1]!);
    expect(last).toBe(thisUpdate.getTime());
    expect(next - last).toBe(CRL_LIFETIME_MS);
    expect(CRL_LIFETIME_MS).toBe(3_600_000);
  });

  it('signs with the algorithm of the CA key: sha256WithRSAEncryption for an RSA CA', () => {
    const ca = rsaCa();
    const pem = createCrl({ ca, thisUpdate, nextUpdate, number: 7, revoked: [{ serialHex: '0123456789abcdef', revokedAt: thisUpdate }] });
    const paths = files({ 'ca.pem': ca.certPem, 'crl.der': crlDer(pem) });
    // DER as served with Accept: application/pkix-crl
    expect(openssl(['crl', '-inform', 'DER', '-in', paths['crl.der']!, '-CAfile', paths['ca.pem']!, '-noout'])).toContain('verify OK');
    const text = openssl(['crl', '-inform', 'DER', '-in', paths['crl.der']!, '-noout', '-text']);
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(text).toContain('Serial Number: 0123456789ABCDEF');
    expect(text).not.toContain('CRL Reason Code');
  });

  it('encodes serials as minimal positive integers, as in the certificates', () => {
    // Given serials with and without the top bit set
    const { ca } = { ca: rsaCa() };
    const pem = createCrl({ ca, thisUpdate, nextUpdate, number: 2 ** 40, revoked: [{ serialHex: 'ff01', revokedAt: thisUpdate }, { serialHex: '7f01', revokedAt: thisUpdate }] });
    const text = openssl(['crl', '-noout', '-text'], pem);
    // Then openssl reads them back as the same positive numbers (a negative or padded one would differ or fail)
    expect(text).toContain('Serial Number: FF01');
    expect(text).toContain('Serial Number: 7F01');
    expect(text).toMatch(/X509v3 CRL Number: \n\s+1099511627776\n/);
  });

  it('numbers CRLs so the number never goes down: it grows with time and with every revocation', () => {
    const t = new Date('2026-11-30T07:00:00Z');
    const later = new Date(t.getTime() + 1000);
    expect(crlNumberFor(t, 3)).toBeGreaterThan(crlNumberFor(t, 2));
    expect(crlNumberFor(later, 0)).toBeGreaterThan(crlNumberFor(t, 500_000));
    expect(crlNumberFor(t, 3)).toBe(crlNumberFor(new Date(t.getTime() + 999), 3));
    expect(Number.isSafeInteger(crlNumberFor(new Date('2100-01-01T00:00:00Z'), 2_000_000))).toBe(true);
  });
});

describe('serials', () => {
  it('are positive 128-bit numbers whose DER needs no padding (openssl refuses a padded integer)', () => {
    // 1 in 256 serials began with a zero byte before; 4000 of them would all but surely show one
    for (let i = 0; i < 4000; i++) {
      const serial = randomSerialHex();
      expect(serial).toMatch(/^[0-7][0-9a-f]{31}$/);
      expect(serial.startsWith('00')).toBe(false);
    }
  });
});

import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { requestUrn } from '../access/server-user.js';
import { writePrivateFile } from '../util/secure-fs.js';
import { createCertificate, generateKeyPairPem, keyIdentifierHex, parseCsr, randomSerialHex, type NameAttribute } from './x509.js';

/** Client certificates start slightly in the past so a skewed server clock does not reject a fresh one. */
export const NOT_BEFORE_SKEW_MS = 60_000;
const CA_LIFETIME_MS = 10 * 365 * 86_400_000;

export interface CertificateAuthority {
  certPem: string;
  key: KeyObject;
  subject: NameAttribute[];
  keyIdHex: string;
}

export const caFiles = (dir: string) => ({ cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') });

/** Loads the broker's CA from its folder, creating it on first use (key 0600). */
export async function loadOrCreateCa(dir: string, now: Date, name = 'byoc access broker CA'): Promise<CertificateAuthority> {
  const files = caFiles(dir);
  if (existsSync(files.cert) && existsSync(files.key)) {
    const [certPem, keyPem] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
    const key = createPrivateKey(keyPem);
    return { certPem, key, subject: subjectOf(certPem), keyIdHex: keyIdentifierHex(createPublicKey(key)) };
  }
  const { ca, keyPem } = await createCa(now, name);
  // Key first: a CA certificate without its key would be unusable after a crash.
  await writePrivateFile(files.key, keyPem);
  await writePrivateFile(files.cert, ca.certPem);
  return ca;
}

/** A new self-signed CA, in memory. */
export async function createCa(now: Date, name = 'byoc access broker CA'): Promise<{ ca: CertificateAuthority; keyPem: string }> {
  const keys = await generateKeyPairPem();
  const key = createPrivateKey(keys.privateKeyPem);
  const publicKey = createPublicKey(keys.publicKeyPem);
  const subject: NameAttribute[] = [{ name: 'organizationName', value: 'byoc' }, { name: 'commonName', value: name }];
  const keyIdHex = keyIdentifierHex(publicKey);
  const certPem = createCertificate({
    subject,
    issuer: subject,
    publicKey,
    serialHex: randomSerialHex(),
    notBefore: new Date(now.getTime() - NOT_BEFORE_SKEW_MS),
    notAfter: new Date(now.getTime() + CA_LIFETIME_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier', keyIdentifierHex: keyIdHex },
    ],
    signingKey: key,
  });
  return { ca: { certPem, key, subject, keyIdHex }, keyPem: keys.privateKeyPem };
}

export interface ClientCertificateSpec {
  csrPem: string;
  identity: string;
  requestId: string;
  notBefore: Date;
  notAfter: Date;
}

export interface IssuedCertificate {
  certPem: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  subject: string;
}

/**
 * Signs an engineer's CSR. The subject comes from the authenticated identity, never from the CSR. The request it
 * was issued for travels in a SAN URI (what current ClickHouse matches with `ssl_certificate SAN`) and again as the
 * subject's OU, because a proxy such as nginx can map the subject but cannot read a SAN: the certificate is bound
 * to its grant's server user by the request, never by the engineer's name alone.
 */
export function issueClientCertificate(ca: CertificateAuthority, spec: ClientCertificateSpec): IssuedCertificate {
  const csr = parseCsr(spec.csrPem);
  const serial = randomSerialHex();
  const urn = requestUrn(spec.requestId);
  const certPem = createCertificate({
    subject: [
      { name: 'commonName', value: spec.identity },
      { name: 'organizationalUnitName', value: urn },
    ],
    issuer: ca.subject,
    publicKey: csr.publicKey,
    serialHex: serial,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 6, value: urn }] },
      { name: 'authorityKeyIdentifier', keyIdentifierHex: ca.keyIdHex },
    ],
    signingKey: ca.key,
  });
  return { certPem, serial, notBefore: spec.notBefore.toISOString(), notAfter: spec.notAfter.toISOString(), subject: `CN=${spec.identity}, OU=${urn}` };
}

/** A TLS server certificate (for the sandbox's nginx and the test servers). */
export function issueServerCertificate(
  ca: CertificateAuthority,
  spec: { publicKeyPem: string; names: string[]; notBefore: Date; notAfter: Date },
): string {
  return createCertificate({
    subject: [{ name: 'commonName', value: spec.names[0]! }],
    issuer: ca.subject,
    publicKey: createPublicKey(spec.publicKeyPem),
    serialHex: randomSerialHex(),
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: spec.names.map((name) => (/^[\d.]+$|:/.test(name) ? { type: 7, ip: name } : { type: 2, value: name })),
      },
      { name: 'authorityKeyIdentifier', keyIdentifierHex: ca.keyIdHex },
    ],
    signingKey: ca.key,
  });
}

function subjectOf(certPem: string): NameAttribute[] {
  const names: Record<string, NameAttribute['name']> = { CN: 'commonName', O: 'organizationName', OU: 'organizationalUnitName' };
  return new X509Certificate(certPem).subject
    .split('\n')
    .map((line) => line.split('='))
    .filter(([short]) => short && names[short])
    .map(([short, ...value]) => ({ name: names[short!]!, value: value.join('=') }));
}

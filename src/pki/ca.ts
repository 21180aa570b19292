import { createPrivateKey, createPublicKey, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { brokerDir } from '../access/broker.js';
import { requestUrn } from '../access/server-user.js';
import { withStoreLock, type LockOptions } from '../access/store.js';
import { RemoteError } from '../errors.js';
import { writePrivateFile } from '../util/secure-fs.js';
import { certificateBody, createCertificate, CSR_SIGNATURE_FAILED, generateKeyPairPem, keyIdentifierHex, randomSerialHex, readCsr, verifyCsr, type CsrProof, type NameAttribute } from './x509.js';

/** Client certificates start slightly in the past so a skewed server clock does not reject a fresh one. */
export const NOT_BEFORE_SKEW_MS = 60_000;
const CA_LIFETIME_MS = 10 * 365 * 86_400_000;
const BROKER_CA_NAME = 'byoc access broker CA';

export interface CertificateAuthority {
  certPem: string;
  key: KeyObject;
  subject: NameAttribute[];
  keyIdHex: string;
}

export const caFiles = (dir: string) => ({ cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') });

/**
 * The broker's CA (`<stateDir>/broker/ca`), created exactly once: by whichever process first needs it, under the
 * broker store's lock, every other one (concurrent or later) loading that same CA. The one entry point for
 * everything that signs with or trusts the broker CA (the broker, the sandbox's server certificate).
 */
export async function loadOrCreateBrokerCa(stateDir: string, now: Date, options: LockOptions, name = BROKER_CA_NAME): Promise<CertificateAuthority> {
  return loadOrCreateCaInFolder(brokerDir(stateDir), now, options, name);
}

/** The CA of the JSONL broker store in `dir` (its `ca` folder), created there once under the store's lock. */
export async function loadOrCreateCaInFolder(dir: string, now: Date, options: LockOptions, name = BROKER_CA_NAME): Promise<CertificateAuthority> {
  const caDir = path.join(dir, 'ca');
  // Files appear by rename, key before certificate: a certificate on disk always has its key beside it.
  const existing = await loadCa(caDir);
  if (existing) return existing;
  return withStoreLock(dir, options, async () => (await loadCa(caDir)) ?? createAndStoreCa(caDir, now, name));
}

/** The CA in `dir`, or undefined when it has no certificate yet; a certificate without its key is an error. */
async function loadCa(dir: string): Promise<CertificateAuthority | undefined> {
  const files = caFiles(dir);
  let certPem: string;
  try {
    certPem = await readFile(files.cert, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let keyPem: string;
  try {
    keyPem = await readFile(files.key, 'utf8');
  } catch (error) {
    throw caBroken(dir, caHint(dir), `${files.key} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, error);
  }
  return caFromPem(certPem, keyPem, dir, caHint(dir), { key: files.key, cert: files.cert });
}

const caHint = (dir: string) =>
  `Restore ${caFiles(dir).cert} and ${caFiles(dir).key} from backup, or move ${dir} aside to create a new CA (then give servers the new ca.crt: byoc sandbox up, or GET /v1/ca).`;

function caBroken(where: string, hint: string, what: string, cause?: unknown): RemoteError {
  return new RemoteError('ca_corrupt', `the broker CA in ${where} is unusable: ${what}`, { hint, ...(cause === undefined ? {} : { cause }) });
}

/** A CA from its PEM texts, checked: the key parses and is the certificate's. */
function caFromPem(certPem: string, keyPem: string, where: string, hint: string, names = { key: 'the key', cert: 'the certificate' }): CertificateAuthority {
  let key: KeyObject;
  let certificate: X509Certificate;
  try {
    key = createPrivateKey(keyPem);
    certificate = new X509Certificate(certPem);
  } catch (error) {
    throw caBroken(where, hint, (error as Error).message, error);
  }
  const publicKey = createPublicKey(key);
  // An older byoc could race two creations and leave one's key beside the other's certificate.
  if (!certificate.publicKey.equals(publicKey)) throw caBroken(where, hint, `${names.key} is not the key of ${names.cert}`);
  return { certPem, key, subject: subjectOf(certificate), keyIdHex: keyIdentifierHex(publicKey) };
}

/** A store that keeps the CA itself (PostgreSQL: one row, inserted once by whichever replica gets there first). */
export interface CaStore {
  readonly where: string;
  loadOrCreateCa(create: () => Promise<{ certPem: string; keyPem: string }>): Promise<{ certPem: string; keyPem: string }>;
}

/** The broker CA kept in `store`, created there exactly once (every replica, concurrent or later, loads that one). */
export async function loadOrCreateCaIn(store: CaStore, now: Date, name = BROKER_CA_NAME): Promise<CertificateAuthority> {
  const { certPem, keyPem } = await store.loadOrCreateCa(async () => {
    const { ca, keyPem: pem } = await createCa(now, name);
    return { certPem: ca.certPem, keyPem: pem };
  });
  return caFromPem(certPem, keyPem, store.where, `Restore the byoc_ca row of ${store.where} from backup.`);
}

/** The CA files in a JSONL store's folder as text (migration copies them), or undefined when there is none. */
export async function readCaFiles(storeDir: string): Promise<{ certPem: string; keyPem: string } | undefined> {
  const caDir = path.join(storeDir, 'ca');
  const ca = await loadCa(caDir);
  if (!ca) return undefined;
  return { certPem: ca.certPem, keyPem: await readFile(caFiles(caDir).key, 'utf8') };
}

async function createAndStoreCa(dir: string, now: Date, name: string): Promise<CertificateAuthority> {
  const { ca, keyPem } = await createCa(now, name);
  // Key first: a CA certificate without its key would be unusable after a crash. Each file is written to a
  // temp file (0600) and renamed, so neither is ever seen half-written.
  await writePrivateFile(caFiles(dir).key, keyPem);
  await writePrivateFile(caFiles(dir).cert, ca.certPem);
  return ca;
}

/** A new self-signed CA, in memory. */
export async function createCa(now: Date, name = BROKER_CA_NAME): Promise<{ ca: CertificateAuthority; keyPem: string }> {
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
  const prepared = prepareClientCertificate(ca, spec);
  if (!verifyCsr(prepared.proof)) throw new Error(CSR_SIGNATURE_FAILED);
  return prepared.finish(sign('sha256', prepared.tbs, ca.key));
}

/**
 * A client certificate ready to be signed: the CSR read and its key through the policy, the to-be-signed bytes
 * built. Its CSR's signature (`proof`) is NOT checked yet: whoever signs `tbs` with the CA key must check it first
 * (issueClientCertificate here, or the served broker's signing thread, signer.ts).
 */
export interface PreparedCertificate {
  proof: CsrProof;
  tbs: Buffer;
  finish: (signature: Buffer) => IssuedCertificate;
}

/** A client certificate's extensions: an end entity for TLS client auth, bound to its request by the SAN URI. */
export function clientCertificateExtensions(requestUrn: string, ca: Pick<CertificateAuthority, 'keyIdHex'>) {
  return [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: requestUrn }] },
    { name: 'authorityKeyIdentifier', keyIdentifierHex: ca.keyIdHex },
  ];
}

export function prepareClientCertificate(ca: CertificateAuthority, spec: ClientCertificateSpec): PreparedCertificate {
  const csr = readCsr(spec.csrPem);
  const serial = randomSerialHex();
  const urn = requestUrn(spec.requestId);
  const body = certificateBody({
    subject: [
      { name: 'commonName', value: spec.identity },
      { name: 'organizationalUnitName', value: urn },
    ],
    issuer: ca.subject,
    publicKey: csr.publicKey,
    serialHex: serial,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    extensions: clientCertificateExtensions(urn, ca),
    signingKey: ca.key,
  });
  return {
    proof: csr.proof,
    tbs: body.der,
    finish: (signature) => ({
      certPem: body.finish(signature),
      serial,
      notBefore: spec.notBefore.toISOString(),
      notAfter: spec.notAfter.toISOString(),
      subject: `CN=${spec.identity}, OU=${urn}`,
    }),
  };
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

function subjectOf(certificate: X509Certificate): NameAttribute[] {
  const names: Record<string, NameAttribute['name']> = { CN: 'commonName', O: 'organizationName', OU: 'organizationalUnitName' };
  return certificate.subject
    .split('\n')
    .map((line) => line.split('='))
    .filter(([short]) => short && names[short])
    .map(([short, ...value]) => ({ name: names[short!]!, value: value.join('=') }));
}

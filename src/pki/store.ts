import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { encodeIdentity } from '../access/server-user.js';
import { UsageError } from '../errors.js';
import { writePrivateFile } from '../util/secure-fs.js';
import { readSmallFile } from '../util/read.js';

/**
 * The engineer's keys and certificates, one set per identity and service:
 * `<state>/certs/<identity>/<service>/{key.pem,cert.pem,ca.pem,meta.json}` (folders 0700, files 0600).
 * Several identities may share one state folder (BYOC_USER switched on one machine, or two broker tokens): each
 * only ever reads its own folder, and a certificate is used only when its CN is that identity too.
 */
interface StoredCertificateMeta {
  /** who the certificate was issued to (its CN) */
  identity: string;
  service: string;
  requestId: string;
  serial: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  broker: string;
  fingerprint: string;
}

export interface StoredCertificate {
  meta: StoredCertificateMeta;
  certPath: string;
  keyPath: string;
  caPath: string;
  certPem: string;
  keyPem: string;
  caPem: string;
}

const FILES = ['key.pem', 'cert.pem', 'ca.pem', 'meta.json'] as const;
// Service names as the configuration allows them (src/config/schema.ts); anything else could walk out of the folder.
const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
// A file name holds 255 bytes: longer encodings keep a readable prefix and a hash of the whole identity.
const MAX_DIR_NAME = 200;

const certsDir = (stateDir: string) => path.join(stateDir, 'certs');

/**
 * The identity's folder name: `[a-z0-9]` kept, every other byte as `_xx` (as in server user names), so two
 * identities never share a folder and no identity can name `..`. `_h` never occurs in that encoding (`_` is always
 * followed by two hex digits), so a hashed long name cannot collide with a plain one.
 */
export function identityDirName(identity: string): string {
  if (identity === '') throw new Error('an identity is required');
  const encoded = encodeIdentity(identity);
  return encoded.length <= MAX_DIR_NAME ? encoded : `${encoded.slice(0, 100)}_h${sha256(identity)}`;
}

const identityDir = (stateDir: string, identity: string) => path.join(certsDir(stateDir), identityDirName(identity));

function serviceDir(stateDir: string, identity: string, service: string): string {
  if (!SERVICE_NAME.test(service)) {
    throw new UsageError('invalid_service', `"${service}" is not a service name`, { hint: 'Service names are lowercase letters, digits and dashes, as in the configuration (byoc config show).' });
  }
  return path.join(identityDir(stateDir, identity), service);
}

function pathsFor(stateDir: string, identity: string, service: string) {
  const dir = serviceDir(stateDir, identity, service);
  return { certPath: path.join(dir, 'cert.pem'), keyPath: path.join(dir, 'key.pem'), caPath: path.join(dir, 'ca.pem'), metaPath: path.join(dir, 'meta.json') };
}

/** SHA-256 fingerprint in the colon form openssl and browsers show. */
function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Stores key, certificate and CA chain for an identity and service: files 0600 in 0700 folders. */
export async function saveCertificate(
  stateDir: string,
  input: { identity: string; service: string; keyPem: string; certPem: string; caPem: string; requestId: string; serial: string; subject: string; notBefore: string; notAfter: string; issuedAt: string; broker: string },
): Promise<StoredCertificate> {
  // Never store what would be ignored on reading: a certificate for someone else is a bug upstream.
  const problem = certificateMismatch(input.identity, input.certPem, input.keyPem);
  if (problem) throw new Error(`refusing to store the certificate for ${input.service}: ${problem}`);
  const paths = pathsFor(stateDir, input.identity, input.service);
  const meta: StoredCertificateMeta = {
    identity: input.identity,
    service: input.service,
    requestId: input.requestId,
    serial: input.serial,
    subject: input.subject,
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    issuedAt: input.issuedAt,
    broker: input.broker,
    fingerprint: fingerprintOf(input.certPem),
  };
  // Key before certificate: a certificate on disk always has its key beside it.
  await writePrivateFile(paths.keyPath, input.keyPem);
  await writePrivateFile(paths.caPath, input.caPem);
  await writePrivateFile(paths.certPath, input.certPem);
  await writePrivateFile(paths.metaPath, `${JSON.stringify(meta, null, 2)}\n`);
  return { meta, ...paths, certPem: input.certPem, keyPem: input.keyPem, caPem: input.caPem };
}

/**
 * The identity's certificate for a service, or undefined. Anything that is not provably this identity's is
 * ignored, never returned: meta for another identity or service, a certificate whose CN is someone else, a key
 * that does not match the certificate (two runs writing at once), unreadable files.
 */
export async function readCertificate(stateDir: string, identity: string, service: string): Promise<StoredCertificate | undefined> {
  const paths = pathsFor(stateDir, identity, service);
  let meta: StoredCertificateMeta, certPem: string, keyPem: string, caPem: string;
  try {
    let metaText: string;
    [metaText, certPem, keyPem, caPem] = await Promise.all([
      readSmallFile(paths.metaPath),
      readSmallFile(paths.certPath),
      readSmallFile(paths.keyPath),
      readSmallFile(paths.caPath),
    ]);
    meta = JSON.parse(metaText) as StoredCertificateMeta;
  } catch {
    return undefined;
  }
  if (meta?.identity !== identity || meta.service !== service) return undefined;
  // parsed once for both checks (each parse is a fair part of a short run's certificate check)
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch {
    return undefined;
  }
  if (mismatchOf(identity, certificate, keyPem)) return undefined;
  // The grant whose standing byoc checks is the one the certificate is bound to, not whatever meta.json says.
  if (requestIdIn(certificate) !== meta.requestId) return undefined;
  return { meta, ...paths, certPem, keyPem, caPem };
}

/** The request a certificate is bound to (its SAN `URI:urn:byoc:request:<id>`), or undefined. */
export function requestIdOf(certPem: string): string | undefined {
  return requestIdIn(new X509Certificate(certPem));
}

function requestIdIn(certificate: X509Certificate): string | undefined {
  const san = certificate.subjectAltName ?? '';
  const ids = [...san.matchAll(/(?:^|, )URI:urn:byoc:request:(r-[0-9a-z]+)(?=,|$)/g)].map((match) => match[1]);
  return ids.length === 1 ? ids[0] : undefined;
}

/** Why a certificate and key cannot be this identity's, or undefined when they are. */
export function certificateMismatch(identity: string, certPem: string, keyPem: string): string | undefined {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch {
    return 'the certificate does not parse';
  }
  return mismatchOf(identity, certificate, keyPem);
}

function mismatchOf(identity: string, certificate: X509Certificate, keyPem: string): string | undefined {
  const names = commonNamesOf(certificate);
  if (names.length !== 1 || names[0] !== identity) return `its CN is ${JSON.stringify(names.join(', '))}, not ${JSON.stringify(identity)}`;
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(keyPem))) return 'the key does not match the certificate';
  } catch {
    return 'the key does not parse';
  }
  return undefined;
}

/**
 * The CN values of a certificate's subject, unescaped. Node's `subject` has one attribute per line with RFC 2253
 * escapes (`\,`, `\+`, control bytes as `\0A`). Not `toLegacyObject()`: on Node 20, calling it before `tls` is
 * loaded leaves `tls.createSecureContext` undefined for the rest of the process, and every TLS connection fails.
 */
export function commonNamesOf(certificate: X509Certificate): string[] {
  return certificate.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => {
      const parts = [...line.slice(3).matchAll(/\\([0-9A-Fa-f]{2})|\\([\s\S])|([\s\S])/gu)].map(([, hex, escaped, plain]) =>
        hex ? Buffer.from([Number.parseInt(hex, 16)]) : Buffer.from(escaped ?? plain ?? '', 'utf8'),
      );
      return Buffer.concat(parts).toString('utf8');
    });
}

/** The identity's certificates, by service name. */
export async function listCertificates(stateDir: string, identity: string): Promise<StoredCertificate[]> {
  let names: string[];
  try {
    names = await readdir(identityDir(stateDir, identity));
  } catch {
    return [];
  }
  const found = await Promise.all(names.filter((name) => SERVICE_NAME.test(name)).sort().map((name) => readCertificate(stateDir, identity, name)));
  return found.filter((entry): entry is StoredCertificate => entry !== undefined);
}

/** Deletes the identity's key and certificate for a service; false when it held none. */
export async function removeCertificate(stateDir: string, identity: string, service: string): Promise<boolean> {
  const dir = serviceDir(stateDir, identity, service);
  const existing = await readCertificate(stateDir, identity, service);
  await rm(dir, { recursive: true, force: true });
  return existing !== undefined;
}

/**
 * Folders of the old layout (`<state>/certs/<service>/cert.pem`, no owner recorded): never read, only reported so
 * they can be deleted. A folder counts when it holds certificate files itself (an identity folder holds folders).
 */
export async function legacyCertificateDirs(stateDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(certsDir(stateDir));
  } catch {
    return [];
  }
  const found = await Promise.all(
    names.sort().map(async (name) => {
      const dir = path.join(certsDir(stateDir), name);
      const held = await Promise.all(FILES.map((file) => stat(path.join(dir, file)).then((info) => info.isFile(), () => false)));
      return held.some(Boolean) ? dir : undefined;
    }),
  );
  return found.filter((dir): dir is string => dir !== undefined);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

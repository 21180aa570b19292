import { createHash, X509Certificate } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writePrivateFile } from '../util/secure-fs.js';

export interface StoredCertificateMeta {
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

export const certsDir = (stateDir: string) => path.join(stateDir, 'certs');
const serviceDir = (stateDir: string, service: string) => path.join(certsDir(stateDir), service);

export function pathsFor(stateDir: string, service: string) {
  const dir = serviceDir(stateDir, service);
  return { certPath: path.join(dir, 'cert.pem'), keyPath: path.join(dir, 'key.pem'), caPath: path.join(dir, 'ca.pem'), metaPath: path.join(dir, 'meta.json') };
}

/** SHA-256 fingerprint in the colon form openssl and browsers show. */
export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Stores key, certificate and CA chain for a service: files 0600 in a 0700 folder. */
export async function saveCertificate(
  stateDir: string,
  input: { service: string; keyPem: string; certPem: string; caPem: string; requestId: string; serial: string; subject: string; notBefore: string; notAfter: string; issuedAt: string; broker: string },
): Promise<StoredCertificate> {
  const paths = pathsFor(stateDir, input.service);
  const meta: StoredCertificateMeta = {
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

export async function readCertificate(stateDir: string, service: string): Promise<StoredCertificate | undefined> {
  const paths = pathsFor(stateDir, service);
  try {
    const [metaText, certPem, keyPem, caPem] = await Promise.all([
      readFile(paths.metaPath, 'utf8'),
      readFile(paths.certPath, 'utf8'),
      readFile(paths.keyPath, 'utf8'),
      readFile(paths.caPath, 'utf8'),
    ]);
    return { meta: JSON.parse(metaText) as StoredCertificateMeta, ...paths, certPem, keyPem, caPem };
  } catch {
    return undefined;
  }
}

export async function listCertificates(stateDir: string): Promise<StoredCertificate[]> {
  let names: string[];
  try {
    names = await readdir(certsDir(stateDir));
  } catch {
    return [];
  }
  const found = await Promise.all(names.sort().map((name) => readCertificate(stateDir, name)));
  return found.filter((entry): entry is StoredCertificate => entry !== undefined);
}

export async function removeCertificate(stateDir: string, service: string): Promise<boolean> {
  const existing = await readCertificate(stateDir, service);
  await rm(serviceDir(stateDir, service), { recursive: true, force: true });
  return existing !== undefined;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

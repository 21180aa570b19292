import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { issueClientCertificate } from '../../../src/pki/ca.js';
import { X509Certificate } from 'node:crypto';
import {
  commonNamesOf,
  identityDirName,
  legacyCertificateDirs,
  listCertificates,
  readCertificate,
  removeCertificate,
  requestIdOf,
  saveCertificate,
} from '../../../src/pki/store.js';
import { createCsr, generateKeyPairPem } from '../../../src/pki/x509.js';
import { testBrokerCa } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';

/** A real client certificate from the test CA for `identity` (CN) and `requestId` (SAN), with its key. */
async function issued(identity: string, requestId = 'r-0abc123xyz') {
  const keys = await generateKeyPairPem();
  const cert = issueClientCertificate(await testBrokerCa(), {
    csrPem: createCsr(keys, [{ name: 'commonName', value: identity }]),
    identity,
    requestId,
    notBefore: new Date('2026-11-21T09:59:00Z'),
    notAfter: new Date('2026-11-21T12:00:00Z'),
  });
  return { keys, cert, requestId };
}

async function save(stateDir: string, identity: string, service = 'acme-prod', requestId?: string) {
  const { keys, cert, requestId: id } = await issued(identity, requestId);
  return saveCertificate(stateDir, {
    identity,
    service,
    keyPem: keys.privateKeyPem,
    certPem: cert.certPem,
    caPem: (await testBrokerCa()).certPem,
    requestId: id,
    serial: cert.serial,
    subject: cert.subject,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    issuedAt: '2026-11-21T10:00:00.000Z',
    broker: 'embedded (test)',
  });
}

describe('certificate store: one folder per identity and service', () => {
  it('stores under certs/<identity>/<service> with folders 0700, files 0600 and the owner in meta.json', async () => {
    // Given a state folder
    const stateDir = tempDir();
    // When alice's certificate is saved
    const stored = await save(stateDir, ALICE);
    // Then it lives in her own folder, private, and meta.json names her
    const dir = path.join(stateDir, 'certs', 'alice_40vendor_2eexample', 'acme-prod');
    expect(stored.certPath).toBe(path.join(dir, 'cert.pem'));
    expect(readdirSync(dir).sort()).toEqual(['ca.pem', 'cert.pem', 'key.pem', 'meta.json']);
    for (const file of readdirSync(dir)) expect(statSync(path.join(dir, file)).mode & 0o777, file).toBe(0o600);
    for (const folder of [dir, path.dirname(dir), path.join(stateDir, 'certs')]) expect(statSync(folder).mode & 0o777, folder).toBe(0o700);
    expect(JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8'))).toMatchObject({ identity: ALICE, service: 'acme-prod', requestId: 'r-0abc123xyz' });
  });

  it('gives every identity its own folder name, safe on any file system', () => {
    // Given identities that a lossy encoding would fold together, or that try to climb out
    const names = ['alice.vendor@example', 'alice@vendor.example', 'Alice@vendor.example', '../../broker', '.', 'a_40b', 'zoë@example'].map(identityDirName);
    // Then no two share a folder and none holds anything but [a-z0-9_]
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z0-9_]+$/);
    // And a very long identity still fits in a file name, and stays distinct from its neighbour
    const long = identityDirName(`${'x.'.repeat(200)}@example`);
    expect(long.length).toBeLessThan(255);
    expect(long).not.toBe(identityDirName(`${'x.'.repeat(200)}@example.org`));
  });

  it("never returns another identity's certificate, even when its files are copied into the reader's folder", async () => {
    // Given alice holds a certificate for acme-prod
    const stateDir = tempDir();
    const alice = await save(stateDir, ALICE);
    // When bob reads, Then he finds nothing
    expect(await readCertificate(stateDir, BOB, 'acme-prod')).toBeUndefined();
    expect(await listCertificates(stateDir, BOB)).toEqual([]);
    // And when alice's files are copied wholesale into bob's folder, meta.json still names alice: ignored
    const bobDir = path.join(stateDir, 'certs', identityDirName(BOB), 'acme-prod');
    mkdirSync(path.dirname(bobDir), { recursive: true });
    cpSync(path.dirname(alice.certPath), bobDir, { recursive: true });
    expect(await readCertificate(stateDir, BOB, 'acme-prod')).toBeUndefined();
    // And with meta.json rewritten to name bob, the certificate's CN is still alice: ignored
    const meta = JSON.parse(readFileSync(path.join(bobDir, 'meta.json'), 'utf8'));
    writeFileSync(path.join(bobDir, 'meta.json'), JSON.stringify({ ...meta, identity: BOB }));
    expect(await readCertificate(stateDir, BOB, 'acme-prod')).toBeUndefined();
    expect(await listCertificates(stateDir, BOB)).toEqual([]);
    // While alice still reads hers
    expect((await readCertificate(stateDir, ALICE, 'acme-prod'))?.keyPem).toBe(alice.keyPem);
  });

  it('ignores a key that does not match the certificate, and meta.json naming another request than the certificate', async () => {
    // Given alice's certificate
    const stateDir = tempDir();
    const stored = await save(stateDir, ALICE);
    const key = readFileSync(stored.keyPath, 'utf8');
    // When the key is replaced by another one (two runs writing at once), Then the pair is not used
    writeFileSync(stored.keyPath, (await generateKeyPairPem()).privateKeyPem);
    expect(await readCertificate(stateDir, ALICE, 'acme-prod')).toBeUndefined();
    writeFileSync(stored.keyPath, key);
    expect(await readCertificate(stateDir, ALICE, 'acme-prod')).toBeDefined();
    // When meta.json points at another request than the certificate's SAN, Then it is not used either
    writeFileSync(stored.certPath.replace('cert.pem', 'meta.json'), JSON.stringify({ ...stored.meta, requestId: 'r-someoneelse' }));
    expect(await readCertificate(stateDir, ALICE, 'acme-prod')).toBeUndefined();
    expect(requestIdOf(stored.certPem)).toBe('r-0abc123xyz');
  });

  it('refuses to store a certificate issued to someone else', async () => {
    const { keys, cert } = await issued(ALICE);
    await expect(
      saveCertificate(tempDir(), { identity: BOB, service: 'acme-prod', keyPem: keys.privateKeyPem, certPem: cert.certPem, caPem: '', requestId: 'r-0abc123xyz', serial: cert.serial, subject: cert.subject, notBefore: cert.notBefore, notAfter: cert.notAfter, issuedAt: '', broker: '' }),
    ).rejects.toThrow(/CN is "alice@vendor.example", not "bob@vendor.example"/);
  });

  it('reads the CN exactly, RFC 2253 specials, control characters and UTF-8 included', async () => {
    // Given identities whose CN Node prints escaped
    for (const identity of ['a,b+c"d;<é>\\x =y ', '#lead\nnext', 'zoë@example', 'x\\2c']) {
      const { cert, keys } = await issued(identity);
      // Then the store reads back exactly that identity, and stores and reads the certificate for it
      expect(commonNamesOf(new X509Certificate(cert.certPem)), JSON.stringify(identity)).toEqual([identity]);
      const stateDir = tempDir();
      await saveCertificate(stateDir, { identity, service: 'acme-prod', keyPem: keys.privateKeyPem, certPem: cert.certPem, caPem: '', requestId: 'r-0abc123xyz', serial: cert.serial, subject: cert.subject, notBefore: cert.notBefore, notAfter: cert.notAfter, issuedAt: '', broker: '' });
      expect(await readCertificate(stateDir, identity, 'acme-prod')).toBeDefined();
    }
  });

  it('refuses service names that would leave the folder', async () => {
    const stateDir = tempDir();
    await expect(readCertificate(stateDir, ALICE, '../../broker')).rejects.toMatchObject({ code: 'invalid_service', exitCode: 2 });
    await expect(removeCertificate(stateDir, ALICE, '..')).rejects.toMatchObject({ code: 'invalid_service' });
  });

  it('removes only the identity’s own certificate', async () => {
    const stateDir = tempDir();
    const alice = await save(stateDir, ALICE);
    await save(stateDir, BOB);
    expect(await removeCertificate(stateDir, BOB, 'acme-prod')).toBe(true);
    expect(await removeCertificate(stateDir, BOB, 'acme-prod')).toBe(false);
    expect(existsSync(alice.keyPath)).toBe(true);
  });

  it('never reads the old per-service layout, and reports its folders', async () => {
    // Given files in the old layout (no owner recorded), beside alice's own folder
    const stateDir = tempDir();
    const alice = await save(stateDir, ALICE);
    const legacy = path.join(stateDir, 'certs', 'acme-prod');
    cpSync(path.dirname(alice.certPath), legacy, { recursive: true });
    writeFileSync(path.join(legacy, 'meta.json'), JSON.stringify({ ...alice.meta, identity: undefined }));
    // Then bob never sees them, and they are reported as the old layout (alice's folder is not)
    expect(await readCertificate(stateDir, BOB, 'acme-prod')).toBeUndefined();
    expect(await legacyCertificateDirs(stateDir)).toEqual([legacy]);
  });
});

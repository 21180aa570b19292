import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HttpBrokerClient } from '../../../src/access/http-client.js';
import { processLockOwner } from '../../../src/access/open.js';
import { caFiles, createCa, loadOrCreateBrokerCa } from '../../../src/pki/ca.js';
import { createCsr, generateKeyPairPem } from '../../../src/pki/x509.js';
import { tempDir } from '../../fakes/fs.js';
import { ALICE, openRealBroker, openssl, serveRealBroker } from './served-broker.js';

/** The lock options of a pretend process `pid` of this host, alive like every other caller of the test. */
const lockOptions = (pid: number) => ({ warn: () => undefined, owner: { pid, host: processLockOwner().host, isAlive: () => true } });

describe('the broker CA is created exactly once', () => {
  it('answers 8 concurrent first GET /v1/ca on a fresh served broker with one CA, the one on disk', async () => {
    // Given a served broker on a fresh state folder (no CA yet)
    const { raw, caFile } = await serveRealBroker();
    // When eight clients ask for the CA at once, over raw HTTP and without a token
    const answers = await Promise.all(Array.from({ length: 8 }, () => raw('/v1/ca')));
    const pems = await Promise.all(answers.map((answer) => answer.text()));
    // Then they all got the same certificate, the one on disk, whose key is private
    expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(200));
    expect(new Set(pems).size).toBe(1);
    expect(pems[0]).toBe(readFileSync(caFile, 'utf8'));
    expect(statSync(caFiles(path.dirname(caFile)).key).mode & 0o777).toBe(0o600);
  });

  it('signs 6 concurrent first certificates (different requests) all with the CA on disk', async () => {
    // Given six approved requests on a fresh served broker that has not made its CA yet
    const { url, tokens, approved, caFile } = await serveRealBroker();
    const ids = await Promise.all(Array.from({ length: 6 }, () => approved()));
    const alice = new HttpBrokerClient({ url, token: tokens.alice });
    // When the six certificates are asked for at once
    const issued = await Promise.all(ids.map(async (id) => alice.issueCertificate(id, createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: ALICE }]))));
    // Then every one verifies against the CA on disk, by node and by openssl
    const caPem = readFileSync(caFile, 'utf8');
    const ca = new X509Certificate(caPem);
    const work = tempDir();
    for (const [index, certificate] of issued.entries()) {
      expect(certificate.ca).toBe(caPem);
      expect(new X509Certificate(certificate.certificate).verify(ca.publicKey)).toBe(true);
      const file = path.join(work, `cert-${index}.pem`);
      writeFileSync(file, certificate.certificate);
      expect(openssl(['verify', '-CAfile', caFile, file])).toBe(`${file}: OK\n`);
    }
  });

  it('yields one CA when two brokers (two processes) on the same state folder create it at once', async () => {
    // Given two brokers opened on the same fresh state folder
    const stateDir = tempDir();
    const [one, two] = await Promise.all([openRealBroker(stateDir), openRealBroker(stateDir)]);
    // When both need the CA at the same moment
    const [first, second] = await Promise.all([one.broker.caCertificate(), two.broker.caCertificate()]);
    // Then it is the same CA, the one on disk
    expect(first).toBe(second);
    expect(first).toBe(readFileSync(path.join(stateDir, 'broker', 'ca', 'ca.crt'), 'utf8'));
  });

  it('creates it under the store lock: many uncoordinated callers (no shared memory) still get one CA', async () => {
    // Given a fresh state folder / When ten callers with different lock owners load-or-create at once
    const stateDir = tempDir();
    const cas = await Promise.all(Array.from({ length: 10 }, (_, i) => loadOrCreateBrokerCa(stateDir, new Date(), lockOptions(5000 + i))));
    // Then one CA came out of it, and the lock is gone
    expect(new Set(cas.map((ca) => ca.certPem)).size).toBe(1);
    expect(new Set(cas.map((ca) => ca.keyIdHex)).size).toBe(1);
    expect(statSync(path.join(stateDir, 'broker')).mode & 0o777).toBe(0o700);
    expect(() => statSync(path.join(stateDir, 'broker', 'events.lock'))).toThrow();
  });

  it('replaces a key left alone by a crash before its certificate was written', async () => {
    // Given a key without a certificate (a crash between the two writes)
    const stateDir = tempDir();
    const { keyPem } = await createCa(new Date());
    const files = caFiles(path.join(stateDir, 'broker', 'ca'));
    mkdirSync(path.dirname(files.key), { recursive: true });
    writeFileSync(files.key, keyPem, { mode: 0o600 });
    // When the CA is needed, Then a complete CA is made and its key matches its certificate
    const ca = await loadOrCreateBrokerCa(stateDir, new Date(), lockOptions(5101));
    expect(new X509Certificate(readFileSync(files.cert, 'utf8')).checkPrivateKey(ca.key)).toBe(true);
    expect((await loadOrCreateBrokerCa(stateDir, new Date(), lockOptions(5102))).certPem).toBe(ca.certPem);
  });

  it("refuses a CA whose key is not its certificate's (left by an older byoc racing itself), exit 5 with a way out", async () => {
    // Given a certificate of one CA beside the key of another
    const stateDir = tempDir();
    const [a, b] = await Promise.all([createCa(new Date()), createCa(new Date())]);
    const files = caFiles(path.join(stateDir, 'broker', 'ca'));
    mkdirSync(path.dirname(files.key), { recursive: true });
    writeFileSync(files.key, a.keyPem, { mode: 0o600 });
    writeFileSync(files.cert, b.ca.certPem);
    // When it is loaded, Then it is refused, naming both files and what to do
    await expect(loadOrCreateBrokerCa(stateDir, new Date(), lockOptions(5200))).rejects.toMatchObject({
      code: 'ca_corrupt',
      exitCode: 5,
      message: expect.stringContaining(`${files.key} is not the key of ${files.cert}`),
      hint: expect.stringContaining('move'),
    });
  });
});

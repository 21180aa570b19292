/**
 * The served broker (store held, as `byoc broker serve` runs) checks CSRs and signs certificates on a signing
 * thread (src/pki/signer.ts) or on its main thread (BrokerDeps.signing; by default by the host's cores). Proven from
 * outside: raw HTTP to the broker, openssl on what it signs, the event log on disk.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccessBroker } from '../../../src/access/broker.js';
import { processLockOwner } from '../../../src/access/open.js';
import { servicesFromConfig } from '../../../src/access/policy.js';
import { createBrokerServer, listen } from '../../../src/access/server.js';
import { prepareClientCertificate, createCa } from '../../../src/pki/ca.js';
import { SIGNER_SCRIPT, SigningThread } from '../../../src/pki/signer.js';
import { createCsr, generateKeyPairPem } from '../../../src/pki/x509.js';
import { tempDir } from '../../fakes/fs.js';
import { ALICE, BOB, openssl } from './served-broker.js';

const open: { server: Server; broker: AccessBroker }[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const { server, broker } of open.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await broker.close();
  }
});

/** A broker held as `byoc broker serve` holds it, signing where it is told to, served on a loopback port. */
async function serveHeld(signing: 'thread' | 'main') {
  const stateDir = tempDir();
  const { ca } = await createCa(new Date());
  const broker = await AccessBroker.open(stateDir, {
    services: servicesFromConfig({ policy: { approvers: [BOB] }, services: { 'acme-prod': {} } }),
    now: () => new Date(),
    ca: async () => ca,
    store: { warn: () => undefined, owner: processLockOwner(), hold: true },
    signing,
  });
  const server = createBrokerServer(broker);
  open.push({ server, broker });
  const { port } = await listen(server, '127.0.0.1', 0);
  const tokens = { alice: await broker.createToken(ALICE), bob: await broker.createToken(BOB) };
  const raw = (route: string, init: RequestInit & { token: string }) =>
    fetch(`http://127.0.0.1:${port}${route}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${init.token}` } });
  const approved = async () => {
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'merges stuck', duration: '1h' });
    await broker.approve(BOB, created.id);
    return created.id;
  };
  return { broker, stateDir, tokens, raw, approved, caFile: path.join(tempDir({ 'ca.crt': ca.certPem }), 'ca.crt') };
}
const csrOf = async (identity = ALICE) => createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: identity }]);

function issuedEvents(stateDir: string): { id: string; serial: string }[] {
  return readFileSync(path.join(stateDir, 'broker', 'events.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { type: string; id: string; serial: string })
    .filter((event) => event.type === 'certificate.issued');
}

describe.each(['thread', 'main'] as const)('the served broker signing on the %s', (signing) => {
  it('issues a certificate openssl verifies against the broker CA, for the request and the requester', async () => {
    // Given a served broker holding its store and an approved request
    const { raw, approved, tokens, caFile, stateDir } = await serveHeld(signing);
    const id = await approved();
    // When the requester asks for a certificate over HTTP
    const response = await raw(`/v1/requests/${id}/certificate`, { method: 'POST', token: tokens.alice, body: JSON.stringify({ csr: await csrOf() }) });
    // Then it is issued, chains to the CA for client auth, names the request, and the log records its serial
    expect(response.status).toBe(201);
    const issued = (await response.json()) as { certificate: string; serial: string };
    const dir = tempDir({ 'cert.pem': issued.certificate });
    expect(openssl(['verify', '-CAfile', caFile, '-purpose', 'sslclient', path.join(dir, 'cert.pem')])).toContain(': OK');
    expect(openssl(['x509', '-noout', '-subject', '-ext', 'subjectAltName', '-in', path.join(dir, 'cert.pem')])).toContain(`URI:urn:byoc:request:${id}`);
    expect(issuedEvents(stateDir)).toEqual([expect.objectContaining({ id, serial: issued.serial })]);
  });

  it('refuses a forged CSR (400 invalid_csr) and logs nothing', async () => {
    // Given an approved request and a CSR whose signature was tampered with
    const { raw, approved, tokens, stateDir } = await serveHeld(signing);
    const id = await approved();
    const lines = (await csrOf()).split('\n');
    // a character near the end of the last line: inside the signature's s value, so the DER still parses
    const last = lines.length - 3;
    const at = lines[last]!.replace(/=+$/, '').length - 2;
    lines[last] = lines[last]!.slice(0, at) + (lines[last]![at] === 'A' ? 'B' : 'A') + lines[last]!.slice(at + 1);
    // When it is sent for signing
    const response = await raw(`/v1/requests/${id}/certificate`, { method: 'POST', token: tokens.alice, body: JSON.stringify({ csr: lines.join('\n') }) });
    // Then the check refuses it as the requester's mistake
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'invalid_csr', message: expect.stringContaining('does not verify') });
    expect(issuedEvents(stateDir)).toEqual([]);
  });

  it('uses the signing thread only when told to', async () => {
    // Given an approved request
    const { raw, approved, tokens } = await serveHeld(signing);
    const id = await approved();
    const sign = vi.spyOn(SigningThread.prototype, 'sign');
    // When its certificate is issued
    const response = await raw(`/v1/requests/${id}/certificate`, { method: 'POST', token: tokens.alice, body: JSON.stringify({ csr: await csrOf() }) });
    // Then the thread signed it, or was never asked
    expect(response.status).toBe(201);
    expect(sign).toHaveBeenCalledTimes(signing === 'thread' ? 1 : 0);
  });
});

describe('the served broker on its signing thread', () => {
  it('refuses anyone but the requester before anything is signed', async () => {
    // Given an approved request of alice's
    const { raw, approved, tokens } = await serveHeld('thread');
    const id = await approved();
    const sign = vi.spyOn(SigningThread.prototype, 'sign');
    // When bob asks for its certificate
    const response = await raw(`/v1/requests/${id}/certificate`, { method: 'POST', token: tokens.bob, body: JSON.stringify({ csr: await csrOf(BOB) }) });
    // Then he is refused and the thread never saw the request
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_requester');
    expect(sign).not.toHaveBeenCalled();
  });

  it('drops a certificate whose request was revoked while it was being signed', async () => {
    // Given an approved request, revoked by its approver while the certificate is on the signing thread
    const { raw, approved, tokens, broker, stateDir } = await serveHeld('thread');
    const id = await approved();
    const original = SigningThread.prototype.sign;
    vi.spyOn(SigningThread.prototype, 'sign').mockImplementation(async function (this: SigningThread, ...args) {
      const signature = await original.apply(this, args);
      await broker.revoke(BOB, id, 'incident over');
      return signature;
    });
    // When the signature comes back
    const response = await raw(`/v1/requests/${id}/certificate`, { method: 'POST', token: tokens.alice, body: JSON.stringify({ csr: await csrOf() }) });
    // Then the request is checked again before the commit: refused, and no certificate is logged (or returned)
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('request_revoked');
    expect(issuedEvents(stateDir)).toEqual([]);
  });

  it('fails the request with a 5xx when the thread dies, and signs the next one on a new thread', async () => {
    // Given a served broker whose signing thread dies on its first job
    const { raw, approved, tokens, stateDir } = await serveHeld('thread');
    const id = await approved();
    const original = SigningThread.prototype.sign;
    let killed = false;
    vi.spyOn(SigningThread.prototype, 'sign').mockImplementation(function (this: SigningThread, ...args) {
      const answer = original.apply(this, args);
      if (!killed) {
        killed = true;
        void (this as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      }
      return answer;
    });
    // When a certificate is asked for, then asked for again
    const first = await raw(`/v1/requests/${id}/certificate`, { method: 'POST', token: tokens.alice, body: JSON.stringify({ csr: await csrOf() }) });
    const second = await raw(`/v1/requests/${id}/certificate`, { method: 'POST', token: tokens.alice, body: JSON.stringify({ csr: await csrOf() }) });
    // Then the first fails as the broker's fault and logs nothing; the second is issued
    expect(first.status).toBe(500);
    expect(second.status).toBe(201);
    expect(issuedEvents(stateDir)).toHaveLength(1);
  });
});

describe('SigningThread', () => {
  it('replaces a thread that exited, failing only the job it held', async () => {
    // Given a thread script that exits on its first job (once: a flag file remembers it did)
    const { ca } = await createCa(new Date());
    const flag = path.join(tempDir(), 'crashed');
    const script = `if (!require('node:fs').existsSync(${JSON.stringify(flag)})) { require('node:fs').writeFileSync(${JSON.stringify(flag)}, ''); require('node:worker_threads').parentPort.once('message', () => process.exit(7)); }\n${SIGNER_SCRIPT}`;
    const thread = new SigningThread(ca.key, script);
    const prepared = prepareClientCertificate(ca, { csrPem: await csrOf(), identity: ALICE, requestId: 'r-1', notBefore: new Date(), notAfter: new Date(Date.now() + 3_600_000) });
    try {
      // When two jobs are sent one after the other
      await expect(thread.sign(prepared.proof, prepared.tbs)).rejects.toThrow('the signing thread exited (code 7)');
      expect(existsSync(flag)).toBe(true);
      const signature = await thread.sign(prepared.proof, prepared.tbs);
      // Then the second gets a signature that makes a certificate openssl verifies against the CA
      const dir = tempDir({ 'ca.pem': ca.certPem, 'cert.pem': prepared.finish(signature).certPem });
      expect(openssl(['verify', '-CAfile', path.join(dir, 'ca.pem'), path.join(dir, 'cert.pem')])).toContain(': OK');
    } finally {
      await thread.close();
    }
  });

  it('fails jobs still held when it is closed', async () => {
    // Given a thread that never answers
    const { ca } = await createCa(new Date());
    const thread = new SigningThread(ca.key, `require('node:worker_threads').parentPort.on('message', () => {});`);
    const prepared = prepareClientCertificate(ca, { csrPem: await csrOf(), identity: ALICE, requestId: 'r-1', notBefore: new Date(), notAfter: new Date(Date.now() + 3_600_000) });
    const job = thread.sign(prepared.proof, prepared.tbs);
    // When it is closed
    await thread.close();
    // Then the job fails rather than hanging
    await expect(job).rejects.toThrow('the signing thread was stopped');
  });
});

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HttpBrokerClient } from '../../../src/access/http-client.js';
import { exitCodeFor } from '../../../src/errors.js';
import { tempDir } from '../../fakes/fs.js';
import { openssl, serveRealBroker } from './served-broker.js';

/** A CSR made by the real openssl, as an engineer (or an attacker) could hand-craft one. */
function opensslCsr(newkey: string[], digest = '-sha256'): string {
  return execFileSync('openssl', ['req', '-new', '-newkey', ...newkey, '-nodes', '-keyout', '/dev/null', '-subj', '/CN=alice@vendor.example', '-batch', ...(digest ? [digest] : [])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

const POLICY = 'EC P-256 or P-384, or RSA of 2048 bits or more';
const csrs: Record<string, string> = {};

beforeAll(() => {
  csrs['RSA-512'] = opensslCsr(['rsa:512']);
  csrs['RSA-1024'] = opensslCsr(['rsa:1024']);
  csrs['RSA-2048'] = opensslCsr(['rsa:2048']);
  csrs['RSA-3072'] = opensslCsr(['rsa:3072'], '-sha384');
  csrs.secp256k1 = opensslCsr(['ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1']);
  csrs['P-256'] = opensslCsr(['ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']);
  csrs['P-384'] = opensslCsr(['ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1'], '-sha384');
  csrs['P-521'] = opensslCsr(['ec', '-pkeyopt', 'ec_paramgen_curve:secp521r1'], '-sha512');
  csrs.Ed25519 = opensslCsr(['ed25519'], '');
  csrs['P-256 with SHA-1'] = opensslCsr(['ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'], '-sha1');
}, 60_000);

describe('the CSR key policy, over raw HTTP to a served broker', () => {
  it.each([
    ['RSA-512', 'an RSA key of 512 bits'],
    ['RSA-1024', 'an RSA key of 1024 bits'],
    ['secp256k1', 'an EC key on secp256k1'],
    ['P-521', 'an EC key on P-521'],
    ['Ed25519', 'an Ed25519 key'],
  ])('refuses a key of type %s with 403 csr_key_refused, naming the key and the policy', async (label, found) => {
    // Given an approved request on a served broker
    const { raw, tokens, approved } = await serveRealBroker();
    const id = await approved();
    // When its requester posts a CSR with that key
    const response = await raw(`/v1/requests/${id}/certificate`, { method: 'POST', token: tokens.alice, body: JSON.stringify({ csr: csrs[label] }) });
    // Then it is refused as not allowed (403), saying what was found and what is accepted, with a next step
    expect(response.status).toBe(403);
    const { error } = (await response.json()) as { error: { code: string; message: string; hint: string; kind: string } };
    expect(error).toMatchObject({ code: 'csr_key_refused', kind: 'not-allowed' });
    expect(error.message).toBe(`the certificate request has ${found}; the broker signs only ${POLICY}`);
    expect(error.hint).toContain('openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1');
  });

  it('refuses a signature algorithm outside the policy (ECDSA with SHA-1) with 403 csr_signature_refused', async () => {
    const { raw, tokens, approved } = await serveRealBroker();
    const id = await approved();
    const response = await raw(`/v1/requests/${id}/certificate`, { method: 'POST', token: tokens.alice, body: JSON.stringify({ csr: csrs['P-256 with SHA-1'] }) });
    expect(response.status).toBe(403);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('csr_signature_refused');
    expect(error.message).toContain('signed with ecdsa-with-SHA1');
  });

  it.each(['RSA-2048', 'RSA-3072', 'P-256', 'P-384'])('signs a %s key (201), and openssl verifies the certificate against the CA on disk', async (label) => {
    // Given an approved request / When its requester posts a CSR with an accepted key
    const { raw, tokens, approved, caFile } = await serveRealBroker();
    const id = await approved();
    const response = await raw(`/v1/requests/${id}/certificate`, { method: 'POST', token: tokens.alice, body: JSON.stringify({ csr: csrs[label] }) });
    // Then a certificate comes back that chains to the broker CA
    expect(response.status).toBe(201);
    const issued = (await response.json()) as { certificate: string };
    const file = path.join(tempDir(), 'cert.pem');
    writeFileSync(file, issued.certificate);
    expect(openssl(['verify', '-CAfile', caFile, file])).toBe(`${file}: OK\n`);
  });

  it('keeps a malformed CSR a usage error (400 invalid_csr), not a policy refusal', async () => {
    const { raw, tokens, approved } = await serveRealBroker();
    const id = await approved();
    const lines = csrs['P-256']!.split('\n');
    // a flipped character in the middle of the public key: still DER, no longer a key on the curve (or a valid signature)
    lines[3] = lines[3]!.slice(0, 10) + (lines[3]![10] === 'A' ? 'B' : 'A') + lines[3]!.slice(11);
    for (const csr of ['not a csr', lines.join('\n')]) {
      const response = await raw(`/v1/requests/${id}/certificate`, { method: 'POST', token: tokens.alice, body: JSON.stringify({ csr }) });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_csr');
    }
  });

  it('reaches the CLI as exit 4 through the broker client (served and embedded alike)', async () => {
    // Given a served broker and the CLI's HTTP client
    const { url, tokens, approved, broker } = await serveRealBroker();
    const id = await approved();
    const client = new HttpBrokerClient({ url, token: tokens.alice });
    // When a weak key is sent, Then the error the CLI gets maps to exit 4, with the broker's message and hint
    const served = await client.issueCertificate(id, csrs['RSA-1024']!).catch((error: unknown) => error);
    expect(served).toMatchObject({ code: 'csr_key_refused', exitCode: 4, hint: expect.stringContaining('EC P-256') });
    expect(exitCodeFor(served)).toBe(4);
    // And the embedded broker refuses it the same way
    const embedded = await broker.issueCertificate('alice@vendor.example', id, csrs.secp256k1!).catch((error: unknown) => error);
    expect(embedded).toMatchObject({ code: 'csr_key_refused', exitCode: 4 });
  });
});

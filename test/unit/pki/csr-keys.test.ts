import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCsr, CsrPolicyError, generateKeyPairPem, parseCsr, type KeyPairPem } from '../../../src/pki/x509.js';

const subject = (name: string) => [{ name: 'commonName' as const, value: name }];

/** The same CSR with the last byte of its signature changed: well-formed, and no longer signed by its key. */
function tampered(csrPem: string): string {
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 1] = der[der.length - 1]! ^ 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

describe('CSR keys parsed once', () => {
  it('still verifies every CSR signature when its key was seen (and parsed) before', async () => {
    // Given a key whose CSR the broker accepted (its parsed key now reused)
    const keys = await generateKeyPairPem();
    const good = createCsr(keys, subject('alice@vendor.example'));
    expect(parseCsr(good).subject).toEqual(subject('alice@vendor.example'));
    // When a CSR with the same key arrives whose signature does not verify
    // Then it is refused, as the first one would have been
    expect(() => parseCsr(tampered(good))).toThrow('the certificate request signature does not verify');
    // And a fresh one with that key is accepted again
    expect(parseCsr(createCsr(keys, subject('alice@vendor.example'))).subject).toEqual(subject('alice@vendor.example'));
  });

  it('refuses a key outside the policy every time (a refusal is never remembered as accepted)', () => {
    // Given a P-521 key (outside the policy)
    const pair = generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
    const keys: KeyPairPem = { privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
    const csr = createCsr(keys, subject('alice@vendor.example'));
    // When it is offered twice, Then it is refused twice, by policy
    for (let i = 0; i < 2; i++) expect(() => parseCsr(csr)).toThrow(CsrPolicyError);
  });
});

describe('CSR PEM reading', () => {
  it.each([
    ['a plain block', (pem: string) => pem],
    ['the NEW CERTIFICATE REQUEST label', (pem: string) => pem.replace(/CERTIFICATE REQUEST/g, 'NEW CERTIFICATE REQUEST')],
    ['CRLF line ends', (pem: string) => pem.replace(/\n/g, '\r\n')],
    ['text before the block (read by forge)', (pem: string) => `Certificate Request:\n    Data: ...\n${pem}`],
  ])('reads %s', async (_label, shape) => {
    // Given a CSR written in that shape
    const pem = shape(createCsr(await generateKeyPairPem(), subject('alice@vendor.example')));
    // When it is parsed, Then its subject is read and its signature checked
    expect(parseCsr(pem).subject).toEqual(subject('alice@vendor.example'));
  });

  it('refuses a block with characters base64 does not have, as forge does', async () => {
    // Given a CSR with a stray character in its body
    const pem = createCsr(await generateKeyPairPem(), subject('alice@vendor.example')).replace(/\n([A-Za-z0-9])/, '\n!$1');
    // When it is parsed, Then forge's refusal is the answer (the message byoc gave before it read PEM itself)
    expect(() => parseCsr(pem)).toThrow('not a PEM certificate request: Invalid PEM formatted message.');
  });
});

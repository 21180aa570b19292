import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprintOf, parseFingerprint, pinnedCertificateFile } from '../../../src/net/broker-trust.js';

const digest = createHash('sha256').update('a certificate').digest();
const hex = digest.toString('hex').toUpperCase().match(/../g)!.join(':');
const base64 = digest.toString('base64');

describe('--fingerprint: the spellings people copy', () => {
  it.each([
    ['OpenSSH style', `SHA256:${base64.replace(/=+$/, '')}`],
    ['padded base64', `SHA256:${base64}`],
    ['base64 without the prefix', base64],
    ['base64url', base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')],
    ['colon hex (openssl)', hex],
    ['lower-case colon hex', `sha256:${hex.toLowerCase()}`],
    ['plain hex', hex.replace(/:/g, '')],
    ["openssl's whole line", `sha256 Fingerprint=${hex}`],
    ["older openssl's whole line", `SHA256 Fingerprint=${hex}`],
  ])('%s is the same fingerprint', (_label, text) => {
    // Given one digest written one way, When it is parsed, Then it is the digest, in both spellings
    expect(parseFingerprint(text)).toEqual(fingerprintOf(Buffer.from('a certificate')));
    expect(parseFingerprint(text)).toEqual({ base64: `SHA256:${base64.replace(/=+$/, '')}`, hex });
  });

  it.each([['SHA256:abc'], [hex.slice(3)], ['MD5:' + hex], [`${hex}:00`], ['AB:CD' + hex.replace(/:/g, '').slice(4)]])('%j is refused as usage (exit 2) with the accepted forms', (text) => {
    expect(() => parseFingerprint(text)).toThrow(expect.objectContaining({ code: 'invalid_fingerprint', exitCode: 2, hint: expect.stringContaining('openssl x509') }));
  });
});

describe('a pin belongs to one origin', () => {
  it('scheme, host and port make the file; the path does not', () => {
    const file = (url: string) => pinnedCertificateFile('/state', new URL(url));
    expect(file('https://broker.example:8443/')).toBe(file('https://broker.example:8443/v1'));
    expect(file('https://broker.example:8443')).not.toBe(file('https://broker.example:9443'));
    expect(file('https://broker.example:8443')).not.toBe(file('https://other.example:8443'));
    expect(path.dirname(file('https://broker.example'))).toBe('/state/trust/brokers');
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { execCredential } from '../../../src/k8s/exec-credential.js';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n';

describe('execCredential', () => {
  it('wraps the certificate, key and expiry in a client.authentication.k8s.io/v1 ExecCredential', () => {
    // Given a certificate valid until a precise instant
    const notAfter = new Date('2025-06-01T20:00:00.999Z');

    // When the credential is built
    const credential = execCredential({ certPem: CERT, keyPem: KEY, notAfter });

    // Then it carries the PEM text as is and a whole-second RFC 3339 expiry no later than the certificate's
    expect(credential).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { clientCertificateData: CERT, clientKeyData: KEY, expirationTimestamp: '2025-06-01T20:00:00Z' },
    });
    expect(Date.parse(credential.status.expirationTimestamp)).toBeLessThanOrEqual(notAfter.getTime());
  });

  it('serializes to the JSON kubectl expects on stdout', () => {
    // Given a credential
    const json = JSON.stringify(execCredential({ certPem: CERT, keyPem: KEY, notAfter: new Date('2030-01-02T03:04:05Z') }));

    // Then the timestamp matches RFC 3339 in UTC
    expect(JSON.parse(json).status.expirationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('refuses an invalid expiry date', () => {
    // Given a certificate whose expiry could not be read
    // Then no credential is made (kubectl would cache it forever or never)
    expect(() => execCredential({ certPem: CERT, keyPem: KEY, notAfter: new Date('nonsense') })).toThrow(ConfigError);
  });
});

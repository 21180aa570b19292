import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BrokerClient, BrokerCrl } from '../../../../src/access/client.js';
import { createCsr, generateKeyPairPem } from '../../../../src/pki/x509.js';
import { runCli } from '../../../fakes/context.js';
import { tempDir } from '../../../fakes/fs.js';
import { strictFake } from '../../../fakes/strict-fake.js';
import { ALICE, BOB, MovableClock, openRealBroker, openssl } from '../../access/served-broker.js';

/** An embedded broker's state folder with one revoked grant that had a certificate. */
async function stateWithRevokedGrant() {
  const stateDir = tempDir();
  const clock = new MovableClock(new Date());
  const { broker } = await openRealBroker(stateDir, clock);
  const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'merges stuck', duration: '1h' });
  await broker.approve(BOB, created.id);
  const issued = await broker.issueCertificate(ALICE, created.id, createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: ALICE }]));
  await broker.revoke(BOB, created.id);
  const setup = { cwd: tempDir(), clock, env: { BYOC_STATE_DIR: stateDir, BYOC_USER: ALICE } };
  return { stateDir, setup, serial: issued.serial, requestId: created.id, caFile: path.join(stateDir, 'broker', 'ca', 'ca.crt') };
}

const sample: BrokerCrl = {
  pem: '-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n',
  number: 3_716_046_592_000_001,
  thisUpdate: '2026-11-30T07:00:00.000Z',
  nextUpdate: '2026-11-30T08:00:00.000Z',
  revoked: [{ serial: '0a1b', requestId: 'r-0000000001', revokedAt: '2026-11-30T06:59:00.000Z' }],
};

describe('byoc broker crl', () => {
  it('prints the PEM on stdout (nothing else) and what it says on stderr', async () => {
    // Given an embedded broker with one revoked certificate
    const { setup, serial, caFile } = await stateWithRevokedGrant();
    // When the CRL is asked for, piped
    const result = await runCli(['broker', 'crl'], setup);
    // Then stdout is exactly a CRL that openssl verifies with the CA and that lists the serial
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^-----BEGIN X509 CRL-----\n[\s\S]+-----END X509 CRL-----\n$/);
    expect(openssl(['crl', '-CAfile', caFile, '-noout'], result.stdout)).toContain('verify OK');
    expect(openssl(['crl', '-noout', '-text'], result.stdout)).toContain(`Serial Number: ${serial.toUpperCase()}`);
    // And the summary went to stderr
    expect(result.stderr).toMatch(/^CRL number \d+ from embedded \(.+\): 1 revoked certificate, valid \S+ to \S+\n$/);
  });

  it('--out writes the file (0644, a CRL is public) and prints one line saying so', async () => {
    const { setup, caFile } = await stateWithRevokedGrant();
    const result = await runCli(['broker', 'crl', '--out', 'byoc-crl.pem'], setup);
    const file = path.join(setup.cwd, 'byoc-crl.pem');
    expect(result.exitCode).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(openssl(['crl', '-in', file, '-CAfile', caFile, '-noout'])).toContain('verify OK');
    expect(result.stdout).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: CRL number \\d+, 1 revoked, next update \\S+Z\\n$`));
  });

  it('--json prints the CRL with its number, times, entries and count; with --out, the file too', async () => {
    // Given a (served) broker client that answers a CRL
    const broker = strictFake<BrokerClient>({ crl: async () => sample, location: 'https://access.example.com' }, 'broker');
    const cwd = tempDir();
    // When / Then
    const printed = await runCli(['broker', 'crl', '--json'], { cwd, clients: { broker: async () => broker } });
    expect(printed.exitCode).toBe(0);
    expect(JSON.parse(printed.stdout)).toEqual({ ...sample, revokedCount: 1 });
    const written = await runCli(['broker', 'crl', '--json', '--out', 'crl.pem'], { cwd, clients: { broker: async () => broker } });
    expect(JSON.parse(written.stdout)).toEqual({ ...sample, revokedCount: 1, file: path.join(cwd, 'crl.pem') });
    expect(readFileSync(path.join(cwd, 'crl.pem'), 'utf8')).toBe(sample.pem);
    expect(broker.calls.crl).toHaveLength(2);
    // the summary names the broker it came from
    expect(printed.stderr).toBe('CRL number 3716046592000001 from https://access.example.com: 1 revoked certificate, valid 2026-11-30T07:00:00.000Z to 2026-11-30T08:00:00.000Z\n');
  });

  it('passes a broker refusal through with its exit code (a served broker without a token: exit 4)', async () => {
    const { NotAllowedError } = await import('../../../../src/errors.js');
    const broker = strictFake<BrokerClient>(
      { crl: async () => Promise.reject(new NotAllowedError('unauthenticated', 'no bearer token was sent', { hint: 'Set BYOC_TOKEN' })) },
      'broker',
    );
    const result = await runCli(['broker', 'crl'], { cwd: tempDir(), clients: { broker: async () => broker } });
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('no bearer token was sent');
  });
});

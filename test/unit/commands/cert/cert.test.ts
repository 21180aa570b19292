import { describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../../src/access/connect.js';
import { FakeClock, runCli } from '../../../fakes/context.js';
import { openTestBroker } from '../../../fakes/broker.js';
import { tempDir } from '../../../fakes/fs.js';

async function withCertificate() {
  const stateDir = tempDir();
  const clock = new FakeClock();
  const { broker } = await openTestBroker(stateDir, clock);
  const created = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'x', duration: '1h' });
  await broker.approve('bob@vendor.example', created.id);
  const setup = { cwd: tempDir(), clock, env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) } };
  const got = await runCli(['cert', 'get', 'acme-prod', '--json'], setup);
  expect(got.exitCode).toBe(0);
  return { setup, clock, requestId: created.id, got: JSON.parse(got.stdout) };
}

describe('byoc cert', () => {
  it('get --json prints paths, expiry, serial, request and subject', async () => {
    const { got, requestId, setup } = await withCertificate();
    expect(got).toEqual({
      service: 'acme-prod',
      requestId,
      subject: `CN=alice@vendor.example, OU=urn:byoc:request:${requestId}`,
      serial: expect.stringMatching(/^[0-9a-f]{32}$/),
      notBefore: '2026-11-21T09:59:00.000Z',
      notAfter: '2026-11-21T11:00:00.000Z',
      fingerprint: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
      certPath: `${setup.env.BYOC_STATE_DIR}/certs/acme-prod/cert.pem`,
      keyPath: `${setup.env.BYOC_STATE_DIR}/certs/acme-prod/key.pem`,
      caPath: `${setup.env.BYOC_STATE_DIR}/certs/acme-prod/ca.pem`,
    });
  });

  it('get on a TTY shows subject and expiry', async () => {
    const { setup } = await withCertificate();
    const result = await runCli(['cert', 'get', 'acme-prod'], { ...setup, stdoutTTY: true });
    expect(result.stdout).toContain('Certificate issued for acme-prod');
    expect(result.stdout).toMatch(/expires\s+in 1h/);
  });

  it('show exits 0 with enough time left, 4 below --min-remaining, 4 once expired', async () => {
    const { setup, clock } = await withCertificate();
    expect((await runCli(['cert', 'show', 'acme-prod', '--min-remaining', '15m'], setup)).exitCode).toBe(0);
    clock.advance(50 * 60_000);
    const short = await runCli(['cert', 'show', 'acme-prod', '--min-remaining', '15m', '--json'], setup);
    expect(short.exitCode).toBe(4);
    expect(JSON.parse(short.stdout)).toMatchObject({ remainingMs: 10 * 60_000, expired: false });
    expect(JSON.parse(short.stderr).error.code).toBe('certificate_expiring');
    clock.advance(20 * 60_000);
    const expired = await runCli(['cert', 'show', 'acme-prod'], setup);
    expect(expired.exitCode).toBe(4);
    expect(expired.stdout).toContain('expired\ttrue');
  });

  it('list and rm', async () => {
    const { setup } = await withCertificate();
    const listed = await runCli(['cert', 'list'], setup);
    expect(listed.stdout).toMatch(/^acme-prod\tr-[0-9a-z]+\tCN=alice@vendor\.example, OU=urn:byoc:request:r-[0-9a-z]+\t2026-11-21T11:00:00\.000Z\tvalid\t/);
    expect((await runCli(['cert', 'rm', 'acme-prod'], setup)).exitCode).toBe(0);
    expect(JSON.parse((await runCli(['cert', 'list', '--json'], setup)).stdout)).toEqual({ certificates: [] });
    const again = await runCli(['cert', 'rm', 'acme-prod'], setup);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain('byoc cert list');
  });

  it('show for a service without a certificate says how to get one', async () => {
    const result = await runCli(['cert', 'show', 'nope'], { cwd: tempDir(), env: { BYOC_STATE_DIR: tempDir() } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('byoc cert get nope');
  });
});

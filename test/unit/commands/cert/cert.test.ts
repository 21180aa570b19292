import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../../src/access/open.js';
import { RemoteError } from '../../../../src/errors.js';
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
  const as = (identity: string) => ({ ...setup, clients: { broker: async () => embeddedClient(broker, identity, stateDir) } });
  return { setup, as, broker, clock, stateDir, requestId: created.id, got: JSON.parse(got.stdout) };
}

const ALICE_DIR = 'certs/alice_40vendor_2eexample/acme-prod';

describe('byoc cert', () => {
  it('get --json prints paths, expiry, serial, request and subject', async () => {
    const { got, requestId, setup } = await withCertificate();
    expect(got).toEqual({
      service: 'acme-prod',
      identity: 'alice@vendor.example',
      reused: false,
      requestId,
      subject: `CN=alice@vendor.example, OU=urn:byoc:request:${requestId}`,
      serial: expect.stringMatching(/^[0-9a-f]{32}$/),
      notBefore: '2026-11-21T09:59:00.000Z',
      notAfter: '2026-11-21T11:00:00.000Z',
      fingerprint: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
      certPath: `${setup.env.BYOC_STATE_DIR}/${ALICE_DIR}/cert.pem`,
      keyPath: `${setup.env.BYOC_STATE_DIR}/${ALICE_DIR}/key.pem`,
      caPath: `${setup.env.BYOC_STATE_DIR}/${ALICE_DIR}/ca.pem`,
    });
  });

  it('get on a TTY says whether the certificate was reused or issued, with subject and expiry', async () => {
    // Given alice already holds a fresh certificate
    const { setup } = await withCertificate();
    // When she runs cert get again on a terminal, Then the view says it was reused and how to force a new one
    const reused = await runCli(['cert', 'get', 'acme-prod'], { ...setup, stdoutTTY: true });
    expect(reused.stdout).toContain('Certificate reused for acme-prod');
    expect(reused.stdout).toContain('byoc cert get acme-prod --renew');
    expect(reused.stdout).toMatch(/expires\s+in 1h/);
    // When she asks for --renew, Then it says issued
    const renewed = await runCli(['cert', 'get', 'acme-prod', '--renew'], { ...setup, stdoutTTY: true });
    expect(renewed.stdout).toContain('Certificate issued for acme-prod');
    expect(renewed.stdout).not.toContain('--renew');
  });

  it('get reuses the stored certificate (same serial), --renew issues a new one, and so does the last third of the grant', async () => {
    // Given alice's certificate from a 1h grant
    const { setup, clock, got } = await withCertificate();
    const serialOf = async (args: string[] = []) => {
      const result = await runCli(['cert', 'get', 'acme-prod', '--json', ...args], setup);
      expect(result.exitCode).toBe(0);
      return JSON.parse(result.stdout) as { serial: string; reused: boolean };
    };
    // When she runs cert get again, Then the same certificate, marked reused
    expect(await serialOf()).toMatchObject({ serial: got.serial, reused: true });
    // And the piped text says so too
    expect((await runCli(['cert', 'get', 'acme-prod'], setup)).stdout).toContain('reused\ttrue\n');
    // When she asks for --renew (or BYOC_RENEW), Then a new serial
    const renewed = await serialOf(['--renew']);
    expect(renewed).toMatchObject({ reused: false });
    expect(renewed.serial).not.toBe(got.serial);
    const fromEnv = JSON.parse((await runCli(['cert', 'get', 'acme-prod', '--json'], { ...setup, env: { ...setup.env, BYOC_RENEW: 'true' } })).stdout);
    expect(fromEnv.serial).not.toBe(renewed.serial);
    // When 41 of the 60 minutes have passed (less than a third left), Then a new serial without asking
    clock.advance(41 * 60_000);
    const late = await serialOf();
    expect(late.reused).toBe(false);
    expect(late.serial).not.toBe(fromEnv.serial);
  });

  it('show exits 0 with enough time left, 4 below --min-remaining, 4 once expired', async () => {
    const { setup, clock } = await withCertificate();
    expect((await runCli(['cert', 'show', 'acme-prod', '--min-remaining', '15m'], setup)).exitCode).toBe(0);
    clock.advance(50 * 60_000);
    const short = await runCli(['cert', 'show', 'acme-prod', '--min-remaining', '15m', '--json'], setup);
    expect(short.exitCode).toBe(4);
    expect(JSON.parse(short.stdout)).toMatchObject({ remainingMs: 10 * 60_000, expired: false });
    expect(JSON.parse(short.stderr).error).toMatchObject({ code: 'certificate_expiring', message: 'the certificate for acme-prod has 10m left, less than 15m' });
    // A zero minimum is a valid duration here (grants have a minimum, this check does not)
    expect((await runCli(['cert', 'show', 'acme-prod', '--min-remaining', '0s'], setup)).exitCode).toBe(0);
    clock.advance(20 * 60_000);
    const expired = await runCli(['cert', 'show', 'acme-prod'], setup);
    expect(expired.exitCode).toBe(4);
    expect(expired.stdout).toContain('expired\ttrue');
  });

  it('show asks the broker: a revoked request exits 4 naming who revoked it and when, even with time left', async () => {
    // Given alice's certificate, which carol then revokes
    const { setup, broker, requestId } = await withCertificate();
    expect((await runCli(['cert', 'show', 'acme-prod', '--min-remaining', '15m'], setup)).exitCode).toBe(0);
    const revoked = await broker.revoke('carol@vendor.example', requestId);
    // When she runs cert show with plenty of time left on the certificate
    const result = await runCli(['cert', 'show', 'acme-prod', '--min-remaining', '15m', '--json'], setup);
    // Then exit 4, the document says the request is revoked, and the error says by whom, when, and what to do
    expect(result.exitCode).toBe(4);
    expect(JSON.parse(result.stdout)).toMatchObject({ requestStatus: 'revoked', revokedBy: 'carol@vendor.example', revokedAt: revoked.revokedAt, expired: false });
    expect(JSON.parse(result.stderr).error).toEqual({
      code: 'access_revoked',
      message: `your access to acme-prod (${requestId}) was revoked by carol@vendor.example at ${revoked.revokedAt}`,
      hint: 'Request access again if you still need it: byoc access request acme-prod --reason "..."',
    });
    // And the text and terminal views say it too
    expect((await runCli(['cert', 'show', 'acme-prod'], setup)).stdout).toContain('requestStatus\trevoked\n');
    const tty = await runCli(['cert', 'show', 'acme-prod'], { ...setup, stdoutTTY: true });
    expect(tty.exitCode).toBe(4);
    expect(tty.stdout).toContain('not usable: request revoked');
    expect(tty.stdout).toContain(`(revoked by carol@vendor.example at ${revoked.revokedAt})`);
  });

  it('show says so (exit 5) when the broker cannot be asked, rather than passing', async () => {
    // Given alice's certificate, and a broker that stops answering
    const { setup, broker, stateDir, requestId } = await withCertificate();
    const unreachable = {
      ...setup,
      clients: {
        broker: async () => ({
          ...embeddedClient(broker, 'alice@vendor.example', stateDir),
          get: async () => {
            throw new RemoteError('broker_unreachable', 'cannot reach the broker at https://broker.vendor.example: ECONNREFUSED');
          },
        }),
      },
    };
    // When she runs cert show, Then exit 5 naming the request it could not check
    const result = await runCli(['cert', 'show', 'acme-prod', '--json'], unreachable);
    expect(result.exitCode).toBe(5);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr).error.message).toBe(`cannot ask the broker whether ${requestId} (your certificate for acme-prod) is still approved: cannot reach the broker at https://broker.vendor.example: ECONNREFUSED`);
  });

  it('list and rm: only your own', async () => {
    const { setup, as } = await withCertificate();
    const listed = await runCli(['cert', 'list'], setup);
    expect(listed.stdout).toMatch(/^acme-prod\tr-[0-9a-z]+\tCN=alice@vendor\.example, OU=urn:byoc:request:r-[0-9a-z]+\t2026-11-21T11:00:00\.000Z\tvalid\t/);
    // bob, on the same state folder, lists nothing and cannot remove alice's
    expect(JSON.parse((await runCli(['cert', 'list', '--json'], as('bob@vendor.example'))).stdout)).toEqual({ identity: 'bob@vendor.example', certificates: [] });
    expect((await runCli(['cert', 'list'], { ...as('bob@vendor.example'), stdoutTTY: true })).stdout).toContain('No certificates stored for bob@vendor.example');
    expect((await runCli(['cert', 'rm', 'acme-prod'], as('bob@vendor.example'))).exitCode).toBe(2);
    expect(JSON.parse((await runCli(['cert', 'list', '--json'], setup)).stdout).certificates).toHaveLength(1);
    // alice removes hers
    expect((await runCli(['cert', 'rm', 'acme-prod'], setup)).exitCode).toBe(0);
    expect(JSON.parse((await runCli(['cert', 'list', '--json'], setup)).stdout)).toEqual({ identity: 'alice@vendor.example', certificates: [] });
    const again = await runCli(['cert', 'rm', 'acme-prod'], setup);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain('byoc cert list');
  });

  it('list points at certificates of the old layout on stderr, and never uses them', async () => {
    // Given a certificate left in the old per-service layout (no owner recorded)
    const { as, stateDir } = await withCertificate();
    const legacy = path.join(stateDir, 'certs', 'acme-prod');
    cpSync(path.join(stateDir, ALICE_DIR), legacy, { recursive: true });
    // When bob lists, Then stderr names the folder and how to delete it, and stdout lists nothing of it
    const listed = await runCli(['cert', 'list', '--json'], as('bob@vendor.example'));
    expect(listed.stderr).toBe(`warning: ignoring a certificate stored by an older byoc without an owner (never used): ${legacy}; delete it with: rm ${legacy}/*.pem ${legacy}/meta.json\n`);
    expect(JSON.parse(listed.stdout).certificates).toEqual([]);
    // And bob's cert show does not use it either
    const shown = await runCli(['cert', 'show', 'acme-prod'], as('bob@vendor.example'));
    expect(shown.exitCode).toBe(4);
    expect(shown.stdout).not.toContain(readFileSync(path.join(legacy, 'key.pem'), 'utf8'));
  });

  it('show without a certificate exits 4: get one when approved, request access otherwise', async () => {
    // Given alice approved (certificate removed) and bob without any request
    const { setup, as, requestId } = await withCertificate();
    expect((await runCli(['cert', 'rm', 'acme-prod'], setup)).exitCode).toBe(0);
    const alice = await runCli(['cert', 'show', 'acme-prod', '--json'], setup);
    expect(alice.exitCode).toBe(4);
    expect(JSON.parse(alice.stderr).error).toMatchObject({ code: 'certificate_not_found', hint: `Get one for ${requestId}: byoc cert get acme-prod` });
    const bob = await runCli(['cert', 'show', 'acme-prod', '--json'], as('bob@vendor.example'));
    expect(bob.exitCode).toBe(4);
    expect(JSON.parse(bob.stderr).error).toMatchObject({ code: 'no_access', hint: expect.stringContaining('byoc access request acme-prod') });
  });

  it('refuses a service name that would leave the state folder', async () => {
    const { setup } = await withCertificate();
    const result = await runCli(['cert', 'rm', '../broker'], setup);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('not a service name');
  });
});

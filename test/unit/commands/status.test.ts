import { describe, expect, it } from 'vitest';
import type { BrokerClient } from '../../../src/access/client.js';
import { embeddedClient } from '../../../src/access/open.js';
import type { AccessRequest } from '../../../src/access/types.js';
import { NotAllowedError, RemoteError } from '../../../src/errors.js';
import { openTestBroker } from '../../fakes/broker.js';
import { FakeClock, runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { strictFake } from '../../fakes/strict-fake.js';

const ALICE = 'alice@vendor.example';
const URL = 'https://broker.vendor.example:8443';

function approvedRequest(clock: FakeClock, overrides: Partial<AccessRequest> = {}): AccessRequest {
  const now = clock.now().getTime();
  return {
    id: 'r-0000000001', service: 'acme-prod', scopes: ['clickhouse'], requester: ALICE, reason: 'merges stuck', duration: '2h', durationMs: 7_200_000,
    status: 'approved', reviews: [], approvalsRequired: 1, createdAt: new Date(now - 60_000).toISOString(), pendingUntil: new Date(now + 3_600_000).toISOString(),
    approvedAt: new Date(now - 30_000).toISOString(), notAfter: new Date(now + 90 * 60_000).toISOString(), certificates: [],
    ...overrides,
  };
}

/** A served broker's client, as connectBroker would give it, faked. */
function servedSetup(broker: BrokerClient, env: Record<string, string> = {}) {
  const clock = new FakeClock();
  return { clock, cwd: tempDir(), env: { BYOC_STATE_DIR: tempDir(), BYOC_BROKER_URL: URL, ...env }, clients: { broker: async () => broker } };
}

describe('byoc status against a served broker', () => {
  it('with BYOC_TOKEN: the identity the broker gives the token, its grants with time left, in text and JSON', async () => {
    // Given a token the broker knows as alice, who holds one approved grant with 90 minutes left (and one that ended)
    const clock = new FakeClock();
    const broker = strictFake<BrokerClient>({
      whoami: async () => ALICE,
      list: async () => [approvedRequest(clock), approvedRequest(clock, { id: 'r-0000000002', notAfter: new Date(clock.now().getTime() - 1).toISOString() })],
    });
    const setup = { ...servedSetup(broker, { BYOC_TOKEN: 'byoc_secret' }), clock };
    // When she asks where she stands
    const text = await runCli(['status'], setup);
    // Then she sees who she is, how that was established, the broker, and the live grant with its time left
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toContain(`identity: ${ALICE}\n`);
    expect(text.stdout).toContain('signed in with: a bearer token (BYOC_TOKEN), checked by the broker');
    expect(text.stdout).toContain(`broker: served ${URL}, reachable (0 ms)`);
    expect(text.stdout).toMatch(/grants:\n {2}acme-prod\tr-0000000001\t1h30m left \(until 2026-11-21T11:30:00.000Z\)\n/);
    expect(text.stdout).not.toContain('r-0000000002');
    expect(text.stdout).toContain('certificates: none');
    // And it asked the broker for her approved requests only
    expect(broker.calls.list).toEqual([[{ mine: true, status: 'approved' }]]);
    broker.assertAllCalled();
    // And on a terminal the same facts are laid out as a view, without tabs
    const tty = await runCli(['status'], { ...setup, stdoutTTY: true });
    expect(tty.exitCode).toBe(0);
    expect(tty.stdout).not.toContain('\t');
    expect(tty.stdout).toContain(`${ALICE} signed in with a bearer token (BYOC_TOKEN), checked by the broker`);
    expect(tty.stdout).toContain(`broker  served ${URL} reachable (0 ms)`);
    expect(tty.stdout).toMatch(/SERVICE\s+REQUEST\s+LEFT\s+UNTIL\n\s+acme-prod\s+r-0000000001\s+1h30m\s+2026-11-21T11:30:00.000Z/i);
    // And --json is the same, as one document
    const json = await runCli(['status', '--json'], setup);
    expect(json.exitCode).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      identity: ALICE,
      signedIn: { via: 'token', source: 'BYOC_TOKEN' },
      broker: { mode: 'served', location: URL, reachable: true, latencyMs: 0 },
      grants: [{ id: 'r-0000000001', service: 'acme-prod', scopes: ['clickhouse'], notAfter: '2026-11-21T11:30:00.000Z', remainingMs: 5_400_000 }],
      certificates: [],
    });
  });

  it('whoami is the same command', async () => {
    const broker = strictFake<BrokerClient>({ whoami: async () => ALICE, list: async () => [] });
    const result = await runCli(['whoami', '--json'], servedSetup(broker, { BYOC_TOKEN: 'byoc_secret' }));
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ identity: ALICE, signedIn: { via: 'token' } });
  });

  it('without a token or a session: exit 4, "not signed in", and the broker is never called', async () => {
    // Given a served broker and neither BYOC_TOKEN nor a byoc login session
    const broker = strictFake<BrokerClient>({}, 'broker');
    // When status runs
    const text = await runCli(['status'], servedSetup(broker));
    // Then it exits 4 with what to do next
    expect(text.exitCode).toBe(4);
    expect(text.stderr).toContain(`error: you are not signed in to the broker at ${URL}`);
    expect(text.stderr).toContain('run byoc login');
    expect(text.stderr).toContain('BYOC_TOKEN');
    expect(text.stdout).toBe('');
    // And --json carries the same refusal as a document
    const json = await runCli(['status', '--json'], servedSetup(broker));
    expect(json.exitCode).toBe(4);
    expect(JSON.parse(json.stderr).error).toMatchObject({ code: 'not_signed_in', hint: expect.stringContaining('run byoc login') });
  });

  it('a token the broker refuses: exit 4 with the broker\'s refusal', async () => {
    const broker = strictFake<BrokerClient>({
      whoami: () => Promise.reject(new NotAllowedError('unauthenticated', 'the bearer token is not valid', { hint: 'Set BYOC_TOKEN to the token from `byoc broker token create <you>`' })),
    });
    const result = await runCli(['status'], servedSetup(broker, { BYOC_TOKEN: 'byoc_wrong' }));
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain('error: the bearer token is not valid');
  });

  it('a broker that cannot be reached: the status says so, and it exits 5', async () => {
    // Given a broker that is down
    const broker = strictFake<BrokerClient>({
      whoami: () => Promise.reject(new RemoteError('broker_unreachable', `cannot reach the broker at ${URL}: ECONNREFUSED`)),
    });
    // When status runs, Then it prints what it knows, marks the broker unreachable and exits 5
    const text = await runCli(['status'], servedSetup(broker, { BYOC_TOKEN: 'byoc_secret' }));
    expect(text.exitCode).toBe(5);
    expect(text.stdout).toContain('identity: unknown (the broker could not be asked)');
    expect(text.stdout).toContain(`broker: served ${URL}, NOT reachable: cannot reach the broker at ${URL}: ECONNREFUSED`);
    expect(text.stderr).toContain('byoc doctor');
    const json = await runCli(['status', '--json'], servedSetup(broker, { BYOC_TOKEN: 'byoc_secret' }));
    expect(json.exitCode).toBe(5);
    expect(JSON.parse(json.stdout).broker).toEqual({ mode: 'served', location: URL, reachable: false, error: { code: 'broker_unreachable', kind: 'remote', message: `cannot reach the broker at ${URL}: ECONNREFUSED` } });
  });
});

describe('byoc status with the embedded broker', () => {
  it('BYOC_USER, the grant, and each certificate with whether the broker still honours it (revoked: not)', async () => {
    // Given alice (BYOC_USER) with an approved request and a certificate for it
    const stateDir = tempDir();
    const clock = new FakeClock();
    const { broker } = await openTestBroker(stateDir, clock);
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'x', duration: '1h' });
    await broker.approve('bob@vendor.example', created.id);
    const setup = { cwd: tempDir(), clock, env: { BYOC_STATE_DIR: stateDir, BYOC_USER: ALICE }, clients: { broker: async () => embeddedClient(broker, ALICE, stateDir) } };
    expect((await runCli(['cert', 'get', 'acme-prod'], setup)).exitCode).toBe(0);
    // When she asks where she stands
    const before = await runCli(['status', '--json'], setup);
    // Then the identity is the configured one, the grant and the certificate have an hour left, honoured
    expect(before.exitCode, before.stderr).toBe(0);
    const status = JSON.parse(before.stdout);
    expect(status).toMatchObject({
      identity: ALICE,
      signedIn: { via: 'user', source: 'BYOC_USER' },
      broker: { mode: 'embedded', reachable: true },
      grants: [{ id: created.id, service: 'acme-prod', remainingMs: 3_600_000 }],
      certificates: [{ service: 'acme-prod', requestId: created.id, expired: false, requestStatus: 'approved', honoured: true, remainingMs: 3_600_000 }],
    });
    expect((await runCli(['status'], setup)).stdout).toContain('signed in with: BYOC_USER (embedded broker; nothing to sign in to)');
    // When her access is revoked
    await broker.revoke('bob@vendor.example', created.id, 'done');
    // Then the grant is gone and the certificate, still within its dates, is marked as not honoured
    const after = await runCli(['status'], setup);
    expect(after.exitCode).toBe(0);
    expect(after.stdout).toContain('grants: none');
    expect(after.stdout).toContain(`acme-prod\t${created.id}\t1h left (until 2026-11-21T11:00:00.000Z)\tNOT honoured: request ${created.id} is revoked`);
    // And the terminal view says the same about the certificate
    const tty = await runCli(['status'], { ...setup, stdoutTTY: true });
    expect(tty.stdout).toMatch(new RegExp(`acme-prod\\s+${created.id}\\s+1h\\s+NOT honoured: revoked`));
    expect(tty.stdout).toContain('none (byoc access request SERVICE --reason "...")');
  });
});

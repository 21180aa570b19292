import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { BrokerClient } from '../../../src/access/client.js';
import type { AccessRequest } from '../../../src/access/types.js';
import { registerStateService } from '../../../src/config/state-services.js';
import { RemoteError } from '../../../src/errors.js';
import { FakeClock, runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { strictFake } from '../../fakes/strict-fake.js';

const ALICE = 'alice@vendor.example';

function grant(clock: FakeClock, service: string, id: string, minutesLeft: number): AccessRequest {
  const now = clock.now().getTime();
  return {
    id, service, scopes: ['clickhouse', 'metrics'], requester: ALICE, reason: 'merges stuck', duration: '2h', durationMs: 7_200_000,
    status: 'approved', reviews: [], approvalsRequired: 1, createdAt: new Date(now - 60_000).toISOString(), pendingUntil: new Date(now + 3_600_000).toISOString(),
    approvedAt: new Date(now - 30_000).toISOString(), notAfter: new Date(now + minutesLeft * 60_000).toISOString(), certificates: [],
  };
}

/** acme-prod and acme-staging in the configuration file, the sandbox registered in the state folder. */
async function workspace(broker: BrokerClient) {
  const clock = new FakeClock();
  const cwd = tempDir();
  const stateDir = tempDir();
  writeFileSync(
    path.join(cwd, 'byoc.config.yaml'),
    'user: alice@vendor.example\nservices:\n  acme-prod:\n    clickhouse: { url: "https://ch.acme.example:8443" }\n    kubernetes: { server: "https://k8s.acme.example:6443" }\n  acme-staging:\n    prometheus: { url: "https://prom.acme.example:9090" }\n',
  );
  await registerStateService(stateDir, 'sandbox', { clickhouse: { url: 'https://ch.sandbox.byoc.internal:18443' }, prometheus: { url: 'https://ch.sandbox.byoc.internal:18444' }, resolve: { 'ch.sandbox.byoc.internal': '127.0.0.1' } });
  return { clock, cwd, env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => broker } };
}

describe('byoc services', () => {
  it('lists configured and sandbox services with their endpoints and the grant you hold for each (text and JSON)', async () => {
    // Given alice holds a grant for acme-prod (two, the later one kept) and one for the sandbox that has ended
    const clock = new FakeClock();
    const broker = strictFake<BrokerClient>({
      whoami: async () => ALICE,
      list: async (filter) => {
        expect(filter).toEqual({ mine: true, status: 'approved' });
        return [grant(clock, 'acme-prod', 'r-000000000b', 30), grant(clock, 'acme-prod', 'r-000000000a', 90), grant(clock, 'sandbox', 'r-000000000c', -1)];
      },
    });
    const setup = { ...(await workspace(broker)), clock };
    // When she lists services, piped
    const text = await runCli(['services'], setup);
    // Then one line per service, by name: where it comes from, its endpoints, and her grant
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toBe(
      [
        'acme-prod\tfile\thttps://ch.acme.example:8443\thttps://k8s.acme.example:6443\t-\tr-000000000a until 2026-11-21T11:30:00.000Z',
        'acme-staging\tfile\t-\t-\thttps://prom.acme.example:9090\tnone',
        'sandbox\tstate\thttps://ch.sandbox.byoc.internal:18443\t-\thttps://ch.sandbox.byoc.internal:18444\tnone',
        '',
      ].join('\n'),
    );
    // And --json has the same, with the grant's time left and scopes
    const json = JSON.parse((await runCli(['services', '--json'], setup)).stdout);
    expect(json).toEqual({
      identity: ALICE,
      grantsKnown: true,
      services: [
        { name: 'acme-prod', origin: 'file', clickhouse: 'https://ch.acme.example:8443', kubernetes: 'https://k8s.acme.example:6443', prometheus: null, grant: { requestId: 'r-000000000a', notAfter: '2026-11-21T11:30:00.000Z', remainingMs: 5_400_000, scopes: ['clickhouse', 'metrics'] }, certificate: null },
        { name: 'acme-staging', origin: 'file', clickhouse: null, kubernetes: null, prometheus: 'https://prom.acme.example:9090', grant: null, certificate: null },
        { name: 'sandbox', origin: 'state', clickhouse: 'https://ch.sandbox.byoc.internal:18443', kubernetes: null, prometheus: 'https://ch.sandbox.byoc.internal:18444', grant: null, certificate: null },
      ],
    });
    // And on a terminal a table says the same, with the next step for a service without a grant
    const view = stripVTControlCharacters((await runCli(['services'], { ...setup, stdoutTTY: true })).stdout);
    expect(view).toMatch(/SERVICE\s+FROM\s+CLICKHOUSE\s+KUBERNETES\s+PROMETHEUS\s+GRANT/);
    expect(view).toMatch(/acme-prod\s+config\s+https:\/\/ch\.acme\.example:8443\s+https:\/\/k8s\.acme\.example:6443\s+-\s+r-000000000a \(1h30m left\)/);
    expect(view).toMatch(/sandbox\s+sandbox\/state/);
    expect(view).toContain('Request access as alice@vendor.example: byoc access request acme-staging --reason "..."');
  });

  it('still lists the services when the broker cannot be asked, saying why grants are unknown', async () => {
    const broker = strictFake<BrokerClient>({
      whoami: async () => {
        throw new RemoteError('broker_unreachable', 'cannot reach the broker at https://broker.vendor.example:8443', { hint: 'Check broker.url' });
      },
    });
    const setup = await workspace(broker);
    const text = await runCli(['services'], setup);
    expect(text.exitCode).toBe(0);
    expect(text.stdout.split('\n')[0]).toBe('acme-prod\tfile\thttps://ch.acme.example:8443\thttps://k8s.acme.example:6443\t-\tunknown');
    expect(text.stderr).toContain('grants not shown: cannot reach the broker at https://broker.vendor.example:8443 (Check broker.url)');
    const json = JSON.parse((await runCli(['services', '--json'], setup)).stdout);
    expect(json).toMatchObject({ grantsKnown: false, grantsUnknown: 'cannot reach the broker at https://broker.vendor.example:8443 (Check broker.url)' });
    expect(json.services[0].grant).toBeNull();
  });

  it('with no service anywhere, says how to add one', async () => {
    const setup = { cwd: tempDir(), env: { BYOC_STATE_DIR: tempDir() }, clients: { broker: async () => strictFake<BrokerClient>({}) } };
    const text = await runCli(['services'], setup);
    expect(text).toMatchObject({ exitCode: 0, stdout: '' });
    expect((await runCli(['services', '--json'], setup)).stdout).toBe(`${JSON.stringify({ services: [], grantsKnown: true }, null, 2)}\n`);
    expect(stripVTControlCharacters((await runCli(['services'], { ...setup, stdoutTTY: true })).stdout).replace(/\s+/g, ' ')).toContain('No services: add one under services in the byoc configuration, or start the local sandbox (byoc sandbox up).');
  });
});

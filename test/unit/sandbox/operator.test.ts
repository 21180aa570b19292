import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AccessRequest } from '../../../src/access/types.js';
import { sandboxPaths } from '../../../src/sandbox/layout.js';
import { onApproved, onRevoked, removeOperatorUser } from '../../../src/sandbox/operator.js';
import { renderOperatorUserXml } from '../../../src/sandbox/render.js';
import type { SandboxHost } from '../../../src/sandbox/sandbox.js';
import type { SandboxSystem } from '../../../src/sandbox/system.js';
import { FakeClock } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';

/** Nothing runs on this machine, as far as the sandbox can tell; any attempt to run something fails the test. */
const stopped: SandboxSystem = {
  isRoot: false,
  spawnDetached: async () => {
    throw new Error('nothing may be started');
  },
  run: async () => {
    throw new Error('nothing may be run');
  },
  isAlive: () => false,
  kill: () => {},
  children: () => [],
  processTitle: () => undefined,
};
const host: SandboxHost = { env: {}, clock: new FakeClock(), system: stopped };

function request(overrides: Partial<AccessRequest> = {}): AccessRequest {
  return {
    id: 'r-0k3j9x2m1q',
    service: 'sandbox',
    scopes: ['clickhouse'],
    requester: 'alice@vendor.example',
    reason: 'demo',
    duration: '1h',
    durationMs: 3_600_000,
    status: 'approved',
    reviews: [],
    approvalsRequired: 1,
    createdAt: '2026-11-21T10:00:00.000Z',
    pendingUntil: '2026-11-21T10:30:00.000Z',
    approvedAt: '2026-11-21T10:01:00.000Z',
    notAfter: '2026-11-21T11:01:00.000Z',
    certificates: [],
    ...overrides,
  };
}

/** A sandbox that was set up once and is now stopped, with alice's user still in users.d. */
function stoppedSandbox(): string {
  const stateDir = tempDir();
  const paths = sandboxPaths(stateDir);
  mkdirSync(paths.clickhouse.usersDir, { recursive: true });
  mkdirSync(paths.nginx.dir, { recursive: true });
  writeFileSync(paths.state, JSON.stringify({ version: 1, createdAt: '', clickhouse: { bin: 'c', httpPort: 1, tcpPort: 2 }, nginx: { bin: 'n', port: 3 } }));
  writeFileSync(path.join(paths.clickhouse.usersDir, 'byoc_alice_vendor_example.xml'), renderOperatorUserXml(request()).content);
  writeFileSync(paths.nginx.usersMap, '"CN=alice@vendor.example" byoc_alice_vendor_example;\n');
  return stateDir;
}

describe('the broker hook for approvals', () => {
  it('ignores other services, kubernetes-only requests, and a sandbox that was never set up', async () => {
    // Given a configured (stopped) sandbox and a never-configured one
    const configured = stoppedSandbox();
    // When / Then nothing happens and nothing fails
    await expect(onApproved(configured, host)(request({ service: 'acme-prod' }))).resolves.toBeUndefined();
    await expect(onApproved(configured, host)(request({ scopes: ['kubernetes'] }))).resolves.toBeUndefined();
    await expect(onApproved(tempDir(), host)(request())).resolves.toBeUndefined();
  });

  it('reports a sandbox that is set up but down, so the approver learns the engineer got no user', async () => {
    // Given a stopped sandbox / When a sandbox request is approved / Then a configuration error says to start it
    await expect(onApproved(stoppedSandbox(), host)(request())).rejects.toMatchObject({
      code: 'sandbox_not_running',
      hint: expect.stringContaining('byoc sandbox up'),
    });
  });
});

describe('removing a user while the sandbox is down', () => {
  it('deletes the users.d file and drops the identity from users.map, for the next up', async () => {
    // Given a stopped sandbox with alice
    const stateDir = stoppedSandbox();
    const paths = sandboxPaths(stateDir);
    // When her user is removed
    const removed = await removeOperatorUser(stateDir, 'alice@vendor.example', host);
    // Then both files forget her
    expect(removed).toEqual({ identity: 'alice@vendor.example', user: 'byoc_alice_vendor_example', removed: true });
    expect(existsSync(path.join(paths.clickhouse.usersDir, 'byoc_alice_vendor_example.xml'))).toBe(false);
    expect(readFileSync(paths.nginx.usersMap, 'utf8')).not.toContain('alice');
  });

  it('keeps the user when the engineer still holds another approved sandbox request', async () => {
    // Given alice's user and another approved request of hers
    const stateDir = stoppedSandbox();
    // When one request is revoked
    await onRevoked(stateDir, host, async () => true)(request({ status: 'revoked' }));
    // Then her user stays
    expect(existsSync(path.join(sandboxPaths(stateDir).clickhouse.usersDir, 'byoc_alice_vendor_example.xml'))).toBe(true);
    // When the last one is revoked / Then it goes
    await onRevoked(stateDir, host)(request({ status: 'revoked' }));
    expect(existsSync(path.join(sandboxPaths(stateDir).clickhouse.usersDir, 'byoc_alice_vendor_example.xml'))).toBe(false);
  });
});

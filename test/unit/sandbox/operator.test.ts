import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { serverUserFor } from '../../../src/access/server-user.js';
import type { AccessRequest } from '../../../src/access/types.js';
import { sandboxPaths } from '../../../src/sandbox/layout.js';
import { liveGrants, onApproved, onRevoked, sweepSandbox, syncWithBroker, type SandboxAuthority } from '../../../src/sandbox/operator.js';
import { grantOfUsersFile } from '../../../src/sandbox/render.js';
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

function setup() {
  const clock = new FakeClock();
  const host: SandboxHost = { env: {}, clock, system: stopped };
  const crls: string[] = [];
  const authority: SandboxAuthority = {
    ca: async () => {
      throw new Error('no certificate is issued in these tests');
    },
    crl: async () => {
      const now = clock.now();
      const pem = `-----BEGIN X509 CRL-----\n${crls.length}\n-----END X509 CRL-----\n`;
      crls.push(pem);
      return { pem, thisUpdate: now.toISOString(), nextUpdate: new Date(now.getTime() + 3_600_000).toISOString() };
    },
  };
  return { clock, host, authority, crls };
}

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

/** A sandbox that was set up once and is now stopped, with a passwordless per-engineer user of an earlier byoc. */
function stoppedSandbox(): string {
  const stateDir = tempDir();
  const paths = sandboxPaths(stateDir);
  mkdirSync(paths.clickhouse.usersDir, { recursive: true });
  mkdirSync(paths.nginx.dir, { recursive: true });
  writeFileSync(paths.state, JSON.stringify({ version: 1, createdAt: '', clickhouse: { bin: 'c', httpPort: 1, tcpPort: 2 }, nginx: { bin: 'n', port: 3 } }));
  writeFileSync(path.join(paths.clickhouse.usersDir, 'byoc_alice_vendor_example.xml'), '<yandex><users><byoc_alice_vendor_example><password></password></byoc_alice_vendor_example></users></yandex>\n');
  return stateDir;
}

const usersDir = (stateDir: string) => readdirSync(sandboxPaths(stateDir).clickhouse.usersDir).sort();

describe('the broker hook for approvals', () => {
  it('ignores other services, kubernetes-only requests, and a sandbox that was never set up', async () => {
    // Given a configured (stopped) sandbox and a never-configured one
    const { host, authority } = setup();
    const configured = stoppedSandbox();
    // When / Then nothing happens and nothing fails
    await expect(onApproved(configured, host, authority)(request({ service: 'acme-prod' }))).resolves.toBeUndefined();
    await expect(onApproved(configured, host, authority)(request({ scopes: ['kubernetes'] }))).resolves.toBeUndefined();
    await expect(onApproved(tempDir(), host, authority)(request())).resolves.toBeUndefined();
    expect(usersDir(configured)).toEqual(['byoc_alice_vendor_example.xml']);
  });

  it('on a sandbox that is down, records the grant for the next up and says so', async () => {
    // Given a stopped sandbox / When a sandbox request is approved
    const { host, authority } = setup();
    const stateDir = stoppedSandbox();
    await expect(onApproved(stateDir, host, authority)(request())).rejects.toMatchObject({ code: 'sandbox_not_running', hint: expect.stringContaining('byoc sandbox up') });
    // Then the grant's own user is written, with a password hash, and the legacy passwordless user is gone
    const user = serverUserFor('r-0k3j9x2m1q', 'alice@vendor.example');
    expect(usersDir(stateDir)).toEqual([`${user}.xml`]);
    const xml = readFileSync(path.join(sandboxPaths(stateDir).clickhouse.usersDir, `${user}.xml`), 'utf8');
    expect(xml).toMatch(/<password_sha256_hex>[0-9a-f]{64}<\/password_sha256_hex>/);
    expect(xml).not.toMatch(/<password>/);
    expect(grantOfUsersFile(xml)).toMatchObject({ requestId: 'r-0k3j9x2m1q', identity: 'alice@vendor.example', user });
  });
});

describe('grants on the sandbox', () => {
  it('gives each request its own user and nginx line; only nginx holds the passwords', async () => {
    // Given two grants of alice and one of an identity that used to fold to the same user
    const { host, authority } = setup();
    const stateDir = stoppedSandbox();
    const paths = sandboxPaths(stateDir);
    for (const overrides of [{}, { id: 'r-1111111111' }, { id: 'r-2222222222', requester: 'alice.vendor@example' }]) {
      await onApproved(stateDir, host, authority)(request(overrides)).catch(() => undefined);
    }
    // Then three users, three mappings keyed by the certificate subject with its request
    expect(usersDir(stateDir)).toHaveLength(3);
    const map = readFileSync(paths.nginx.usersMap, 'utf8');
    expect(map).toContain(`"OU=urn:byoc:request:r-0k3j9x2m1q,CN=alice@vendor.example" ${serverUserFor('r-0k3j9x2m1q', 'alice@vendor.example')};`);
    expect(map).toContain(`"OU=urn:byoc:request:r-1111111111,CN=alice@vendor.example" ${serverUserFor('r-1111111111', 'alice@vendor.example')};`);
    expect(map).toContain(`"OU=urn:byoc:request:r-2222222222,CN=alice.vendor@example" ${serverUserFor('r-2222222222', 'alice.vendor@example')};`);
    expect(map).not.toMatch(/"CN=/);
    // And the passwords are in nginx's keys.map (0600) and nowhere in ClickHouse's folder
    const keys = readFileSync(paths.nginx.keysMap, 'utf8');
    const passwords = [...keys.matchAll(/^\S+ "([A-Za-z0-9_-]{43})";$/gm)].map((match) => match[1]!);
    expect(passwords).toHaveLength(3);
    expect(new Set(passwords).size).toBe(3);
    expect(statSync(paths.nginx.keysMap).mode & 0o777).toBe(0o600);
    for (const file of usersDir(stateDir)) for (const password of passwords) expect(readFileSync(path.join(paths.clickhouse.usersDir, file), 'utf8')).not.toContain(password);
  });

  it('revoking one grant removes only that user and mapping, and refreshes the CRL', async () => {
    // Given two grants of alice on a stopped sandbox
    const { host, authority, crls } = setup();
    const stateDir = stoppedSandbox();
    const paths = sandboxPaths(stateDir);
    await onApproved(stateDir, host, authority)(request()).catch(() => undefined);
    await onApproved(stateDir, host, authority)(request({ id: 'r-1111111111' })).catch(() => undefined);
    const before = crls.length;
    // When the first is revoked
    await onRevoked(stateDir, host, authority)(request({ status: 'revoked' }));
    // Then her other grant stays, the revoked one is gone from users.d and both maps, and nginx has a new CRL
    expect(usersDir(stateDir)).toEqual([`${serverUserFor('r-1111111111', 'alice@vendor.example')}.xml`]);
    expect(readFileSync(paths.nginx.usersMap, 'utf8')).not.toContain('r-0k3j9x2m1q');
    expect(readFileSync(paths.nginx.keysMap, 'utf8')).not.toContain(serverUserFor('r-0k3j9x2m1q', 'alice@vendor.example'));
    expect(crls.length).toBe(before + 1);
    expect(readFileSync(paths.nginx.crl, 'utf8')).toBe(crls.at(-1));
  });

  it('a revocation of a kubernetes-only sandbox request still refreshes the CRL', async () => {
    const { host, authority, crls } = setup();
    const stateDir = stoppedSandbox();
    await onRevoked(stateDir, host, authority)(request({ scopes: ['kubernetes'], status: 'revoked' }));
    expect(crls).toHaveLength(1);
  });
});

describe('expiry on the sandbox', () => {
  it('the sweep removes the users of grants that ended, and nothing else', async () => {
    // Given a 1h grant and a later one
    const { host, authority, clock } = setup();
    const stateDir = stoppedSandbox();
    await onApproved(stateDir, host, authority)(request()).catch(() => undefined);
    await onApproved(stateDir, host, authority)(request({ id: 'r-1111111111', notAfter: '2026-11-21T13:00:00.000Z' })).catch(() => undefined);
    // When nothing has ended / Then the sweep does nothing at all
    expect(await sweepSandbox(stateDir, host, authority)).toBeUndefined();
    // When the first grant's end passes
    clock.advance(61 * 60_000);
    const report = await sweepSandbox(stateDir, host, authority);
    // Then its user and mapping are gone, the other stays
    expect(report?.removed).toEqual([serverUserFor('r-0k3j9x2m1q', 'alice@vendor.example')]);
    expect(usersDir(stateDir)).toEqual([`${serverUserFor('r-1111111111', 'alice@vendor.example')}.xml`]);
    expect((await liveGrants(stateDir, clock.now())).map((grant) => grant.requestId)).toEqual(['r-1111111111']);
  });

  it('refreshes the CRL once half its life has passed, so nginx never holds a stale one', async () => {
    const { host, authority, clock, crls } = setup();
    const stateDir = stoppedSandbox();
    await onRevoked(stateDir, host, authority)(request({ status: 'revoked' }));
    clock.advance(29 * 60_000);
    expect(await sweepSandbox(stateDir, host, authority)).toBeUndefined();
    clock.advance(60_000);
    expect((await sweepSandbox(stateDir, host, authority))?.crlRefreshed).toBe(true);
    expect(crls).toHaveLength(2);
  });

  it('does nothing on a machine without a sandbox', async () => {
    const { host, authority, crls } = setup();
    expect(await sweepSandbox(tempDir(), host, authority)).toBeUndefined();
    expect(crls).toHaveLength(0);
  });
});

describe('sandbox up brings the users in line with the broker', () => {
  it('applies what was approved and drops what was revoked while it was down', async () => {
    // Given a grant recorded earlier, which the broker has since revoked, and a new approval it never saw
    const { host, authority } = setup();
    const stateDir = stoppedSandbox();
    await onApproved(stateDir, host, authority)(request()).catch(() => undefined);
    const approvedSince = request({ id: 'r-3333333333', requester: 'bob@vendor.example' });
    // When up syncs with the broker
    await syncWithBroker(stateDir, host, { ...authority, approved: async () => [approvedSince] });
    // Then only the broker's approved request is a grant
    expect((await liveGrants(stateDir, host.clock.now())).map((grant) => grant.requestId)).toEqual(['r-3333333333']);
    expect(existsSync(path.join(sandboxPaths(stateDir).nginx.grants, 'r-0k3j9x2m1q.json'))).toBe(false);
  });
});

describe('the metrics scope on the sandbox', () => {
  const mapLines = (stateDir: string) =>
    readFileSync(sandboxPaths(stateDir).nginx.metricsMap, 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'));

  it('a metrics-only request passes the metrics door and gets no ClickHouse user; clickhouse-only is not at the metrics door', async () => {
    // Given a stopped sandbox
    const { host, authority } = setup();
    const stateDir = stoppedSandbox();
    // When a metrics-only, a clickhouse-only and a request with both are approved
    await onApproved(stateDir, host, authority)(request({ id: 'r-aaaaaaaaaa', scopes: ['metrics'] })).catch(() => undefined);
    await onApproved(stateDir, host, authority)(request({ id: 'r-bbbbbbbbbb', scopes: ['clickhouse'] })).catch(() => undefined);
    await onApproved(stateDir, host, authority)(request({ id: 'r-cccccccccc', scopes: ['clickhouse', 'metrics'] })).catch(() => undefined);
    // Then metrics.map lists the two with metrics, keyed by the certificate subject
    expect(mapLines(stateDir)).toEqual([
      '"OU=urn:byoc:request:r-aaaaaaaaaa,CN=alice@vendor.example" r-aaaaaaaaaa;',
      '"OU=urn:byoc:request:r-cccccccccc,CN=alice@vendor.example" r-cccccccccc;',
    ]);
    // And only the two with clickhouse have a ClickHouse user and a users.map line
    expect(usersDir(stateDir)).toEqual([`${serverUserFor('r-bbbbbbbbbb', 'alice@vendor.example')}.xml`, `${serverUserFor('r-cccccccccc', 'alice@vendor.example')}.xml`]);
    expect(readFileSync(sandboxPaths(stateDir).nginx.usersMap, 'utf8')).not.toContain('r-aaaaaaaaaa');
    // And status shows all three grants with their scopes
    expect((await liveGrants(stateDir, host.clock.now())).map((grant) => [grant.requestId, grant.scopes])).toEqual([
      ['r-aaaaaaaaaa', ['metrics']],
      ['r-bbbbbbbbbb', ['clickhouse']],
      ['r-cccccccccc', ['clickhouse', 'metrics']],
    ]);
  });

  it('revocation and expiry remove the metrics mapping, like the ClickHouse one', async () => {
    // Given two metrics grants, one ending in an hour and one later
    const { host, authority, clock } = setup();
    const stateDir = stoppedSandbox();
    await onApproved(stateDir, host, authority)(request({ id: 'r-aaaaaaaaaa', scopes: ['metrics'] })).catch(() => undefined);
    await onApproved(stateDir, host, authority)(request({ id: 'r-dddddddddd', scopes: ['metrics'], notAfter: '2026-11-21T13:00:00.000Z' })).catch(() => undefined);
    await onApproved(stateDir, host, authority)(request({ id: 'r-eeeeeeeeee', scopes: ['metrics'], notAfter: '2026-11-21T13:00:00.000Z' })).catch(() => undefined);
    // When one is revoked / Then its line is gone
    await onRevoked(stateDir, host, authority)(request({ id: 'r-eeeeeeeeee', status: 'revoked' }));
    expect(mapLines(stateDir).map((line) => line.split(' ').at(-1))).toEqual(['r-aaaaaaaaaa;', 'r-dddddddddd;']);
    // When the first one's end passes / Then the sweep removes its line, and the later grant stays
    clock.advance(61 * 60_000);
    await sweepSandbox(stateDir, host, authority);
    expect(mapLines(stateDir).map((line) => line.split(' ').at(-1))).toEqual(['r-dddddddddd;']);
  });

  it('sandbox up keeps a metrics-only approval of the broker', async () => {
    const { host, authority } = setup();
    const stateDir = stoppedSandbox();
    await syncWithBroker(stateDir, host, { ...authority, approved: async () => [request({ id: 'r-ffffffffff', scopes: ['metrics'] })] });
    expect((await liveGrants(stateDir, host.clock.now())).map((grant) => grant.requestId)).toEqual(['r-ffffffffff']);
  });
});

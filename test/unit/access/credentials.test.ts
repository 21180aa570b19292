import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../src/access/open.js';
import { fetchCertificate, getCertificate, obtainCertificate, standingOf } from '../../../src/access/credentials.js';
import type { BrokerClient } from '../../../src/access/client.js';
import { RemoteError } from '../../../src/errors.js';
import { identityDirName } from '../../../src/pki/store.js';
import { FakeClock, testContext } from '../../fakes/context.js';
import { openTestBroker } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';
import { strictFake } from '../../fakes/strict-fake.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const DAVE = 'dave@vendor.example';
const HOUR = 3_600_000;

async function setup() {
  const stateDir = tempDir();
  const clock = new FakeClock();
  const { broker } = await openTestBroker(stateDir, clock);
  // one state folder, several identities: each context is one engineer at the same machine
  const as = (identity: string, client: (base: BrokerClient) => BrokerClient = (base) => base) =>
    testContext({ env: { BYOC_STATE_DIR: stateDir }, clock, clients: { broker: async () => client(embeddedClient(broker, identity, stateDir)) } }).ctx;
  const ctx = as(ALICE);
  const request = (identity = ALICE) => broker.create(identity, { service: 'acme-prod', reason: 'x', duration: '2h' });
  return { ctx, as, broker, clock, request, stateDir };
}

/** Every file under a folder, with its bytes: what "untouched" means. */
function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => {
        const file = path.join(entry.parentPath, entry.name);
        return [path.relative(dir, file), readFileSync(file, 'utf8')];
      }),
  );
}

describe('obtainCertificate: the one way commands get a usable certificate', () => {
  it('without any request, says to request access', async () => {
    const { ctx } = await setup();
    await expect(obtainCertificate(ctx, 'acme-prod')).rejects.toMatchObject({ code: 'no_access', exitCode: 4, hint: expect.stringContaining('byoc access request acme-prod') });
  });

  it('with a pending request, says to wait for it', async () => {
    const { ctx, request } = await setup();
    const created = await request();
    await expect(obtainCertificate(ctx, 'acme-prod')).rejects.toMatchObject({ code: 'access_pending', hint: `Wait for it: byoc access wait ${created.id}` });
  });

  it('with an approved request and no certificate, fetches one; then reuses it', async () => {
    const { ctx, broker, request } = await setup();
    const created = await request();
    await broker.approve('bob@vendor.example', created.id);
    const first = await obtainCertificate(ctx, 'acme-prod');
    expect(first.meta.requestId).toBe(created.id);
    expect(first.remainingMs).toBe(2 * HOUR);
    const second = await obtainCertificate(ctx, 'acme-prod');
    expect(second.meta.serial).toBe(first.meta.serial);
    expect((await broker.get(ALICE, created.id)).certificates).toHaveLength(1);
  });

  it('refuses a stored certificate whose request was revoked, naming who revoked it', async () => {
    const { ctx, broker, request } = await setup();
    const created = await request();
    await broker.approve('bob@vendor.example', created.id);
    await obtainCertificate(ctx, 'acme-prod');
    await broker.revoke('carol@vendor.example', created.id);
    await expect(obtainCertificate(ctx, 'acme-prod')).rejects.toMatchObject({ code: 'access_revoked', message: expect.stringContaining('revoked by carol@vendor.example') });
  });

  it('after the grant ends, says the certificate expired and to request again', async () => {
    const { ctx, broker, clock, request } = await setup();
    const created = await request();
    await broker.approve('bob@vendor.example', created.id);
    await obtainCertificate(ctx, 'acme-prod');
    clock.advance(3 * HOUR);
    await expect(obtainCertificate(ctx, 'acme-prod')).rejects.toMatchObject({ code: 'certificate_expired', hint: expect.stringContaining('byoc access request acme-prod') });
  });

  it('uses a newer approved request when the stored certificate runs out', async () => {
    const { ctx, broker, clock, request } = await setup();
    const first = await request();
    await broker.approve('bob@vendor.example', first.id);
    await obtainCertificate(ctx, 'acme-prod');
    clock.advance(2 * HOUR - 30_000);
    const second = await request();
    await broker.approve('bob@vendor.example', second.id);
    expect((await obtainCertificate(ctx, 'acme-prod')).meta.requestId).toBe(second.id);
  });

  it('uses a newer approved request when the stored certificate’s request was revoked', async () => {
    // Given alice's certificate for a request that carol revokes, and a second approved request
    const { ctx, broker, request } = await setup();
    const first = await request();
    await broker.approve(BOB, first.id);
    await obtainCertificate(ctx, 'acme-prod');
    await broker.revoke('carol@vendor.example', first.id);
    const second = await request();
    await broker.approve(BOB, second.id);
    // When a command obtains a certificate, Then it is a new one for the approved request
    expect((await obtainCertificate(ctx, 'acme-prod')).meta.requestId).toBe(second.id);
  });
});

describe('certificates belong to one identity (one state folder, BYOC_USER switched)', () => {
  it("bob never gets alice's certificate: no_access for him, and alice's files are untouched", async () => {
    // Given alice approved and holding a certificate for acme-prod, bob without any request
    const { as, broker, request, stateDir } = await setup();
    const created = await request(ALICE);
    await broker.approve(BOB, created.id);
    const alice = await obtainCertificate(as(ALICE), 'acme-prod');
    const before = snapshot(path.join(stateDir, 'certs'));
    // When bob obtains a certificate for the same service
    const refused = obtainCertificate(as(BOB), 'acme-prod');
    // Then he is refused (exit 4), told he has no access, and nothing on disk changed
    await expect(refused).rejects.toMatchObject({ code: 'no_access', exitCode: 4, message: expect.stringContaining(`you (${BOB}) have no approved access`) });
    expect(snapshot(path.join(stateDir, 'certs'))).toEqual(before);
    // And alice still gets hers
    expect((await obtainCertificate(as(ALICE), 'acme-prod')).keyPem).toBe(alice.keyPem);
  });

  it('with both approved, each holds a separate key and certificate with their own CN', async () => {
    // Given alice and dave both approved for acme-prod on one machine
    const { as, broker, request, stateDir } = await setup();
    for (const identity of [ALICE, DAVE]) await broker.approve(BOB, (await request(identity)).id);
    // When both obtain certificates
    const alice = await obtainCertificate(as(ALICE), 'acme-prod');
    const dave = await obtainCertificate(as(DAVE), 'acme-prod');
    // Then each is in its owner's folder, issued to its owner, with a different key
    expect(alice.keyPath).toBe(path.join(stateDir, 'certs', identityDirName(ALICE), 'acme-prod', 'key.pem'));
    expect(dave.keyPath).toBe(path.join(stateDir, 'certs', identityDirName(DAVE), 'acme-prod', 'key.pem'));
    expect(alice.meta.subject).toMatch(/^CN=alice@vendor\.example,/);
    expect(dave.meta.subject).toMatch(/^CN=dave@vendor\.example,/);
    expect(dave.keyPem).not.toBe(alice.keyPem);
    // And each keeps getting their own
    expect((await obtainCertificate(as(ALICE), 'acme-prod')).keyPem).toBe(alice.keyPem);
    expect((await obtainCertificate(as(DAVE), 'acme-prod')).keyPem).toBe(dave.keyPem);
  });

  it('stores nothing when a broker answers with a certificate issued to someone else', async () => {
    // Given a (misconfigured) broker that says bob's request is his but signs the certificate for alice
    const { as, broker, request, stateDir } = await setup();
    const created = await request(ALICE);
    await broker.approve('carol@vendor.example', created.id);
    const ctx = as(BOB, (base) => ({
      ...base,
      get: async (id) => ({ ...(await broker.get(ALICE, id)), requester: BOB }),
      issueCertificate: (id, csr) => broker.issueCertificate(ALICE, id, csr),
    }));
    // When bob fetches a certificate, Then it is refused as the broker's fault (exit 5) and nothing is stored
    await expect(fetchCertificate(ctx, 'acme-prod', created.id)).rejects.toMatchObject({ code: 'certificate_mismatch', exitCode: 5 });
    expect(existsSync(path.join(stateDir, 'certs', identityDirName(BOB)))).toBe(false);
  });
});

describe('getCertificate (byoc cert get): reuse while more than a third of the grant is left', () => {
  it('reuses the same certificate, issues a new one with renew, and after two thirds of the grant', async () => {
    // Given alice's approved 2h request
    const { ctx, broker, clock, request } = await setup();
    const created = await request();
    await broker.approve(BOB, created.id);
    // When she gets a certificate twice, Then the second is the same one, reused, and the broker issued one
    const first = await getCertificate(ctx, 'acme-prod');
    expect(first.reused).toBe(false);
    const second = await getCertificate(ctx, 'acme-prod');
    expect(second).toMatchObject({ reused: true, meta: { serial: first.meta.serial } });
    expect((await broker.get(ALICE, created.id)).certificates).toHaveLength(1);
    // When she asks to renew, Then a new key and serial
    const renewed = await getCertificate(ctx, 'acme-prod', { renew: true });
    expect(renewed.reused).toBe(false);
    expect(renewed.meta.serial).not.toBe(first.meta.serial);
    expect(renewed.keyPem).not.toBe(first.keyPem);
    // When just under two thirds of the grant has passed, Then it is still reused
    clock.advance((2 * 2 * HOUR) / 3 - 60_000);
    expect((await getCertificate(ctx, 'acme-prod')).meta.serial).toBe(renewed.meta.serial);
    // When more than two thirds have passed, Then a new one
    clock.advance(2 * 60_000);
    const late = await getCertificate(ctx, 'acme-prod');
    expect(late.reused).toBe(false);
    expect(late.meta.serial).not.toBe(renewed.meta.serial);
  });

  it('does not reuse a certificate whose request was revoked', async () => {
    const { ctx, broker, request } = await setup();
    const created = await request();
    await broker.approve(BOB, created.id);
    await getCertificate(ctx, 'acme-prod');
    await broker.revoke('carol@vendor.example', created.id);
    await expect(getCertificate(ctx, 'acme-prod')).rejects.toMatchObject({ code: 'no_access', message: expect.stringContaining(`${created.id} is revoked`) });
  });

  it('with --request naming another approved request, issues for that one', async () => {
    const { ctx, broker, request } = await setup();
    const first = await request();
    await broker.approve(BOB, first.id);
    await getCertificate(ctx, 'acme-prod');
    const second = await request();
    await broker.approve(BOB, second.id);
    const got = await getCertificate(ctx, 'acme-prod', { requestId: second.id });
    expect(got).toMatchObject({ reused: false, meta: { requestId: second.id } });
  });
});

describe('standingOf: what the broker says now', () => {
  it('a broker that cannot be reached is a remote failure (exit 5), never "still approved"', async () => {
    // Given a stored certificate, and then a broker that does not answer
    const { ctx, broker, request } = await setup();
    await broker.approve(BOB, (await request()).id);
    const stored = await obtainCertificate(ctx, 'acme-prod');
    const unreachable = strictFake<BrokerClient>({
      get: async () => {
        throw new RemoteError('broker_unreachable', 'cannot reach the broker at https://broker.vendor.example: ECONNREFUSED', { hint: 'Check broker.url' });
      },
    });
    // Then asking about it says so, naming the request
    await expect(standingOf(unreachable, stored)).rejects.toMatchObject({ code: 'broker_unreachable', exitCode: 5, message: expect.stringContaining(`whether ${stored.meta.requestId}`) });
    unreachable.assertAllCalled();
  });
});

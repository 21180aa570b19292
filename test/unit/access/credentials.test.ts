import { describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../src/access/connect.js';
import { obtainCertificate } from '../../../src/access/credentials.js';
import { FakeClock, testContext } from '../../fakes/context.js';
import { openTestBroker } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';

const ALICE = 'alice@vendor.example';
const HOUR = 3_600_000;

async function setup() {
  const stateDir = tempDir();
  const clock = new FakeClock();
  const { broker } = await openTestBroker(stateDir, clock);
  const { ctx } = testContext({ env: { BYOC_STATE_DIR: stateDir }, clock, clients: { broker: async () => embeddedClient(broker, ALICE, stateDir) } });
  const request = () => broker.create(ALICE, { service: 'acme-prod', reason: 'x', duration: '2h' });
  return { ctx, broker, clock, request };
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
});

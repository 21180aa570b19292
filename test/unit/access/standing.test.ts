import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AccessBroker } from '../../../src/access/broker.js';
import type { BrokerClient } from '../../../src/access/client.js';
import { embeddedClient, processLockOwner } from '../../../src/access/open.js';
import { obtainCertificate } from '../../../src/access/credentials.js';
import { servicesFromConfig } from '../../../src/access/policy.js';
import { viewOf } from '../../../src/access/records.js';
import { leanRecord } from '../../../src/access/standing.js';
import { FakeClock, testContext } from '../../fakes/context.js';
import { testBrokerCa } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';
import { strictFake } from '../../fakes/strict-fake.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const CAROL = 'carol@vendor.example';
const HOUR = 3_600_000;

/** A real embedded broker; `snapshotAfterBytes: 1` makes every open write a snapshot of what the log holds then. */
function open(stateDir: string, clock: FakeClock, snapshot: boolean) {
  return AccessBroker.open(stateDir, {
    services: servicesFromConfig({ policy: { approvers: [BOB, CAROL] }, services: { 'acme-prod': {} } }),
    now: clock.now,
    ca: testBrokerCa,
    store: { warn: () => undefined, owner: processLockOwner(), ...(snapshot ? { snapshotAfterBytes: 1 } : { snapshotAfterBytes: 1 << 30 }) },
  });
}

/** Requests in every status the broker knows, some decided before the snapshot and some after (in the log's tail). */
async function everyStatus(snapshot: boolean) {
  const stateDir = tempDir();
  const clock = new FakeClock();
  const first = await open(stateDir, clock, snapshot);
  const create = (duration = '2h') => first.create(ALICE, { service: 'acme-prod', reason: 'x', duration });
  const approved = await create();
  await first.approve(BOB, approved.id);
  const revokedEarly = await create();
  await first.approve(BOB, revokedEarly.id);
  await first.revoke(CAROL, revokedEarly.id);
  const denied = await create();
  await first.deny(BOB, denied.id, 'not now');
  const short = await create('1h');
  await first.approve(BOB, short.id);
  const revokedLate = await create();
  await first.approve(BOB, revokedLate.id);
  clock.advance(1000);
  // a second broker opening the store writes the snapshot (when asked to); what follows is the log's tail
  await open(stateDir, clock, snapshot);
  await first.revoke(CAROL, revokedLate.id);
  const pending = await create();
  const approvedLate = await create();
  await first.approve(BOB, approvedLate.id);
  const ids = [approved, revokedEarly, denied, short, revokedLate, pending, approvedLate].map((request) => request.id);
  return { stateDir, clock, ids, dir: path.join(stateDir, 'broker') };
}

describe('the lean standing check agrees with the broker', () => {
  it.each([
    ['from the snapshot and the tail', true],
    ['from the log alone (no snapshot: a small log)', false],
  ])('on every status, now and after grants end (%s)', async (_label, snapshot) => {
    // Given requests approved, revoked (before and after the snapshot), denied, pending and approved after it
    const { stateDir, clock, ids, dir } = await everyStatus(snapshot);
    expect(existsSync(path.join(dir, 'events.snapshot.json'))).toBe(snapshot);
    for (const advance of [0, 1.5 * HOUR, 3 * HOUR]) {
      // When the clock moves on (1h grants expire, then 2h grants and pending ones), and both are asked
      clock.advance(advance);
      const broker = await open(stateDir, clock, false);
      const statuses = new Set<string>();
      for (const id of [...ids, 'req-unknown']) {
        const lean = await leanRecord(dir, id, clock.now().getTime());
        const told = await broker.get(ALICE, id).catch((error: { code?: string }) => error.code);
        // Then wherever the lean check answers, its answer is the broker's, field for field
        if (lean) expect(viewOf(lean, clock.now().getTime())).toEqual(told);
        // and an approved request, the one answer a query acts on, is always answered without the broker
        if (typeof told === 'object' && told.status === 'approved') expect(lean).toBeDefined();
        statuses.add(typeof told === 'object' ? told.status : told!);
      }
      if (advance === 0) expect([...statuses].sort()).toEqual(['approved', 'denied', 'pending', 'request_not_found', 'revoked']);
    }
  });

  it('leaves a damaged or torn tail, and a snapshot about another log, to the broker', async () => {
    // Given an approved request in the log's tail
    const { dir, clock, ids } = await everyStatus(true);
    const id = ids[6]!;
    const now = clock.now().getTime();
    expect(await leanRecord(dir, id, now)).toBeDefined();
    const log = path.join(dir, 'events.jsonl');
    const original = readFileSync(log);
    // When the tail ends without its newline, Then the broker is asked (it warns about it)
    appendFileSync(log, '{"type":"request.rev');
    expect(await leanRecord(dir, id, now)).toBeUndefined();
    // When a line after the snapshot is not a broker event, Then the broker is asked (it reports the line)
    writeFileSync(log, Buffer.concat([original, Buffer.from('{"type":"request.revoked","id":1}\n')]));
    expect(await leanRecord(dir, id, now)).toBeUndefined();
    // When the log was rewritten under the snapshot, Then the broker is asked (it replays the whole log)
    writeFileSync(log, Buffer.concat([Buffer.from(' '), original]));
    expect(await leanRecord(dir, id, now)).toBeUndefined();
    // When there is no log at all, Then the broker is asked
    expect(await leanRecord(tempDir(), id, now)).toBeUndefined();
  });
});

describe('obtainCertificate on the embedded broker', () => {
  async function withCertificate() {
    const stateDir = tempDir();
    const clock = new FakeClock();
    const broker = await open(stateDir, clock, false);
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'x', duration: '2h' });
    await broker.approve(BOB, created.id);
    const env = { BYOC_STATE_DIR: stateDir, BYOC_USER: ALICE };
    const real = testContext({ env, clock, clients: { broker: async () => embeddedClient(broker, ALICE, stateDir) } }).ctx;
    const issued = await obtainCertificate(real, 'acme-prod');
    return { broker, clock, env, created, issued, stateDir };
  }

  it('uses the stored certificate of an approved request without opening the broker', async () => {
    // Given alice's stored certificate for an approved request
    const { clock, env, created, issued } = await withCertificate();
    // When a command obtains it with a broker that must not be asked
    const untouchable = strictFake<BrokerClient>({}, 'broker');
    const ctx = testContext({ env, clock, clients: { broker: async () => untouchable } }).ctx;
    const certificate = await obtainCertificate(ctx, 'acme-prod');
    // Then it is the stored one, with the request as the broker has it
    expect(certificate.meta.serial).toBe(issued.meta.serial);
    expect(certificate.request.id).toBe(created.id);
    expect(certificate.request.status).toBe('approved');
    expect(certificate.remainingMs).toBe(issued.remainingMs);
  });

  it('asks the broker once the request was revoked, and refuses in its words', async () => {
    // Given the stored certificate's request revoked by carol
    const { broker, clock, env, created, stateDir } = await withCertificate();
    await broker.revoke(CAROL, created.id);
    // When a command obtains it
    let asked = 0;
    const client = embeddedClient(broker, ALICE, stateDir);
    const ctx = testContext({ env, clock, clients: { broker: async () => (asked++, client) } }).ctx;
    // Then the broker is asked and the refusal names who revoked it (exit 4)
    await expect(obtainCertificate(ctx, 'acme-prod')).rejects.toMatchObject({ code: 'access_revoked', exitCode: 4, message: expect.stringContaining(`revoked by ${CAROL}`) });
    expect(asked).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { AccessBroker } from '../../../src/access/broker.js';
import { processLockOwner } from '../../../src/access/open.js';
import { servicesFromConfig } from '../../../src/access/policy.js';
import { createCa } from '../../../src/pki/ca.js';
import { FakeClock } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const CAROL = 'carol@vendor.example';

async function open(onDecision: (event: string, status: string, reviews: number) => void) {
  const warnings: string[] = [];
  const ca = createCa(new Date('2026-01-01T00:00:00Z')).then(({ ca: authority }) => authority);
  const broker = await AccessBroker.open(tempDir(), {
    services: servicesFromConfig({ policy: { approvers: [BOB, CAROL], approvals: 2 }, services: { sandbox: {} } }),
    now: new FakeClock().now,
    ca: () => ca,
    store: { warn: (message) => warnings.push(message), owner: processLockOwner() },
    onDecision: (event, request) => onDecision(event, request.status, request.reviews.length),
  });
  return { broker, warnings };
}

describe("the broker's decision hook (notifications)", () => {
  it('is told of each decision once it is committed: created, approved by the last approval, denied, revoked', async () => {
    // Given a broker needing two approvals
    const told: string[] = [];
    const { broker } = await open((event, status, reviews) => told.push(`${event} ${status} ${reviews}`));
    // When a request is created, approved twice and revoked; and another is denied
    const first = await broker.create(ALICE, { service: 'sandbox', reason: 'one', duration: '1h' });
    await broker.approve(BOB, first.id);
    await broker.approve(CAROL, first.id);
    await broker.revoke(ALICE, first.id);
    const second = await broker.create(ALICE, { service: 'sandbox', reason: 'two', duration: '1h' });
    await broker.deny(BOB, second.id, 'no');
    // Then the hook saw each as committed (the first approval raised nothing)
    expect(told).toEqual(['created pending 0', 'approved approved 2', 'revoked revoked 2', 'created pending 0', 'denied denied 1']);
  });

  it('does not fail a decision when the hook throws: a warning, and the decision stands', async () => {
    const { broker, warnings } = await open(() => {
      throw new Error('queue exploded');
    });
    const created = await broker.create(ALICE, { service: 'sandbox', reason: 'one', duration: '1h' });
    expect(created.status).toBe('pending');
    expect(warnings).toEqual([`notifying created ${created.id} failed: queue exploded`]);
    await expect(broker.get(ALICE, created.id)).resolves.toMatchObject({ status: 'pending' });
  });
});

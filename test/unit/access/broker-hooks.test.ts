import { describe, expect, it } from 'vitest';
import { AccessBroker, SWEEP_INTERVAL_MS } from '../../../src/access/broker.js';
import { processLockOwner } from '../../../src/access/open.js';
import { servicesFromConfig } from '../../../src/access/policy.js';
import type { AccessRequest } from '../../../src/access/types.js';
import { createCa } from '../../../src/pki/ca.js';
import { FakeClock } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const CAROL = 'carol@vendor.example';

async function open(options: { approvals?: number; failWith?: Error } = {}) {
  const warnings: string[] = [];
  const calls: { hook: 'approved' | 'revoked'; request: AccessRequest; eventsAtCall: number }[] = [];
  const ca = createCa(new Date('2026-01-01T00:00:00Z')).then(({ ca: authority }) => authority);
  const hook = (name: 'approved' | 'revoked') => async (request: AccessRequest) => {
    // what the broker itself reports at call time proves the decision was committed first
    calls.push({ hook: name, request, eventsAtCall: (await broker.get(BOB, request.id)).reviews.length });
    if (options.failWith) throw options.failWith;
  };
  // The hooks run on decisions, after the broker is open.
  const broker: AccessBroker = await AccessBroker.open(tempDir(), {
    services: servicesFromConfig({ policy: { approvers: [BOB, CAROL], approvals: options.approvals ?? 1 }, services: { sandbox: {} } }),
    now: new FakeClock().now,
    ca: () => ca,
    store: { warn: (message) => warnings.push(message), owner: processLockOwner() },
    onApproved: hook('approved'),
    onRevoked: hook('revoked'),
  });
  const created = await broker.create(ALICE, { service: 'sandbox', reason: 'demo', duration: '1h' });
  return { broker, created, calls, warnings };
}

describe('the broker operator-step hooks', () => {
  it('calls onApproved once, after the approval is committed', async () => {
    // Given a pending request / When bob approves
    const { broker, created, calls } = await open();
    const approved = await broker.approve(BOB, created.id);
    // Then the hook saw the approved request, with bob's review already in the log
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ hook: 'approved', request: { id: created.id, status: 'approved' }, eventsAtCall: 1 });
    expect(approved.status).toBe('approved');
  });

  it('waits for the last required approval', async () => {
    // Given a policy of two approvals
    const { broker, created, calls } = await open({ approvals: 2 });
    // When bob approves / Then nothing yet
    await broker.approve(BOB, created.id);
    expect(calls).toHaveLength(0);
    // When carol approves / Then the hook runs
    await broker.approve(CAROL, created.id);
    expect(calls.map((call) => call.hook)).toEqual(['approved']);
  });

  it('does not call onApproved for a denial, and calls onRevoked for a revocation', async () => {
    // Given one denied and one approved-then-revoked request
    const { broker, created, calls } = await open();
    await broker.deny(BOB, created.id, 'no');
    const second = await broker.create(ALICE, { service: 'sandbox', reason: 'again', duration: '1h' });
    await broker.approve(CAROL, second.id);
    // When alice revokes the approved one
    const revoked = await broker.revoke(ALICE, second.id);
    // Then
    expect(calls.map((call) => [call.hook, call.request.id, call.request.status])).toEqual([
      ['approved', second.id, 'approved'],
      ['revoked', second.id, 'revoked'],
    ]);
    expect(revoked.status).toBe('revoked');
  });

  it('turns a failing hook into a warning and keeps the decision', async () => {
    // Given hooks that fail
    const { broker, created, warnings } = await open({ failWith: Object.assign(new Error('nginx reload failed'), { hint: 'see the log' }) });
    // When bob approves and alice revokes / Then both decisions stand, with a warning each
    await expect(broker.approve(BOB, created.id)).resolves.toMatchObject({ status: 'approved' });
    await expect(broker.revoke(ALICE, created.id)).resolves.toMatchObject({ status: 'revoked' });
    expect(warnings).toEqual([
      `the operator step for ${created.id} failed: nginx reload failed (see the log)`,
      `removing the operator step for ${created.id} failed: nginx reload failed (see the log)`,
    ]);
  });
});

describe('the expiry sweep hook', () => {
  async function withSweep(failWith?: Error) {
    const clock = new FakeClock();
    const warnings: string[] = [];
    let sweeps = 0;
    const ca = createCa(new Date('2026-01-01T00:00:00Z')).then(({ ca: authority }) => authority);
    const broker = await AccessBroker.open(tempDir(), {
      services: servicesFromConfig({ policy: { approvers: [BOB], approvals: 1 }, services: { sandbox: {} } }),
      now: clock.now,
      ca: () => ca,
      store: { warn: (message) => warnings.push(message), owner: processLockOwner() },
      sweep: async () => {
        sweeps++;
        if (failWith) throw failWith;
      },
    });
    return { broker, clock, warnings, sweeps: () => sweeps };
  }

  it('runs before broker operations, at most once a second', async () => {
    // Given a broker with a sweep hook
    const { broker, clock, sweeps } = await withSweep();
    // When several operations run within the same second / Then one sweep
    const created = await broker.create(ALICE, { service: 'sandbox', reason: 'demo', duration: '1h' });
    await broker.get(ALICE, created.id);
    await broker.list(ALICE);
    expect(sweeps()).toBe(1);
    // When a second has passed / Then the next operation sweeps again
    clock.advance(SWEEP_INTERVAL_MS);
    await broker.approve(BOB, created.id);
    expect(sweeps()).toBe(2);
    // And the served broker's timer can ask for one at any time
    await broker.sweep();
    expect(sweeps()).toBe(3);
  });

  it('turns a failing sweep into a warning; the operation still answers', async () => {
    const { broker, warnings } = await withSweep(new Error('nginx is gone'));
    await expect(broker.create(ALICE, { service: 'sandbox', reason: 'demo', duration: '1h' })).resolves.toMatchObject({ status: 'pending' });
    expect(warnings).toEqual(['the expiry sweep failed: nginx is gone']);
  });
});

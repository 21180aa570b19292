import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { notifierFor, openBroker } from '../../../src/access/open.js';
import { FakeClock, testContext } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { startReceiver } from './receiver.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const MINUTE = 60_000;

/** A served broker's pieces on one state folder; `restart` opens them again on the same folder, as a new process would. */
async function servedBroker(url: string) {
  const cwd = tempDir({
    'byoc.config.yaml': `policy: { approvers: [${BOB}], pendingTtl: 1h }\nservices: { acme-prod: {} }\nnotify:\n  targets:\n    hook: { kind: webhook, url: "${url}", secretEnv: HOOK_SECRET, events: [expiring-soon, lapsed] }\n  default: [hook]\n`,
  });
  const stateDir = tempDir();
  const clock = new FakeClock(new Date());
  const open = async () => {
    const harness = testContext({ cwd, env: { BYOC_STATE_DIR: stateDir, HOOK_SECRET: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6' }, clock });
    const configuration = await harness.ctx.config();
    const notifier = (await notifierFor(harness.ctx, configuration, 'served'))!;
    const broker = await openBroker(harness.ctx, configuration, { hold: true, notifier });
    return { broker, notifier, stderr: () => harness.stderr.text };
  };
  return { open, clock, stateDir };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

describe("the served broker's timer notifications", () => {
  it('tells of a grant 10 minutes before it ends and when it has ended, each once, even across a restart', async () => {
    // Given an approved 1h grant on a served broker
    const receiver = await startReceiver();
    const { open, clock, stateDir } = await servedBroker(receiver.url);
    let served = await open();
    const created = await served.broker.create(ALICE, { service: 'acme-prod', reason: 'incident', duration: '1h' });
    await served.broker.approve(BOB, created.id);
    // When the timer runs before the last 10 minutes / Then nothing
    clock.advance(49 * MINUTE);
    await served.notifier.tick(served.broker.requestsInMemory());
    await settle();
    expect(receiver.received).toHaveLength(0);
    // When it runs in the last 10 minutes, twice / Then one expiring-soon
    clock.advance(2 * MINUTE);
    await served.notifier.tick(served.broker.requestsInMemory());
    await served.notifier.tick(served.broker.requestsInMemory());
    await receiver.until(1);
    await settle();
    expect(receiver.received.map((entry) => JSON.parse(entry.body) as { event: string; request: { id: string } }).map((body) => [body.event, body.request.id])).toEqual([['expiring-soon', created.id]]);
    // and the sent keys are kept in the state folder, private
    const sentFile = path.join(stateDir, 'notify', 'sent.json');
    expect(Object.keys((JSON.parse(readFileSync(sentFile, 'utf8')) as { sent: object }).sent)).toEqual([`expiring-soon:${created.id}`]);
    expect(statSync(sentFile).mode & 0o777).toBe(0o600);
    // When the broker restarts within the window / Then it is not sent again
    await served.broker.close();
    await served.notifier.close(1000);
    served = await open();
    await served.notifier.tick(served.broker.requestsInMemory());
    await settle();
    expect(receiver.received).toHaveLength(1);
    // When the grant has ended / Then one lapsed (ended), also once across a restart
    clock.advance(10 * MINUTE);
    await served.notifier.tick(served.broker.requestsInMemory());
    await receiver.until(2);
    const lapsed = JSON.parse(receiver.received[1]!.body) as { event: string; lapse: string; at: string; request: { notAfter: string; status: string } };
    expect(lapsed).toMatchObject({ event: 'lapsed', lapse: 'ended', request: { status: 'expired' } });
    expect(lapsed.at).toBe(lapsed.request.notAfter);
    await served.broker.close();
    await served.notifier.close(1000);
    served = await open();
    await served.notifier.tick(served.broker.requestsInMemory());
    await settle();
    expect(receiver.received).toHaveLength(2);
    await served.broker.close();
    await served.notifier.close(1000);
  });

  it('tells of a request that lapsed unreviewed; not of a revoked grant, nor of the end of a grant too short to warn about', async () => {
    // Given a pending request, a revoked grant and a 5 minute grant
    const receiver = await startReceiver();
    const { open, clock } = await servedBroker(receiver.url);
    const served = await open();
    const pending = await served.broker.create(ALICE, { service: 'acme-prod', reason: 'nobody looks', duration: '1h' });
    const revoked = await served.broker.create(ALICE, { service: 'acme-prod', reason: 'done early', duration: '15m' });
    await served.broker.approve(BOB, revoked.id);
    await served.broker.revoke(ALICE, revoked.id);
    const short = await served.broker.create(ALICE, { service: 'acme-prod', reason: 'quick look', duration: '5m' });
    await served.broker.approve(BOB, short.id);
    // When the timer runs through the next hour and a bit
    for (let minute = 0; minute <= 70; minute += 1) {
      await served.notifier.tick(served.broker.requestsInMemory());
      clock.advance(MINUTE);
    }
    await receiver.until(2);
    await settle();
    // Then: the short grant's end, and the pending request lapsing unreviewed; nothing for the revoked one
    const told = receiver.received.map((entry) => JSON.parse(entry.body) as { event: string; lapse?: string; request: { id: string } }).map((body) => `${body.event}:${body.lapse ?? ''}:${body.request.id}`);
    expect(told.sort()).toEqual([`lapsed:ended:${short.id}`, `lapsed:unreviewed:${pending.id}`].sort());
    await served.broker.close();
    await served.notifier.close(1000);
  });

  it('does not send what ended before the catch-up window (an old store, notifications just configured)', async () => {
    // Given a grant that ended two hours ago, before anyone ticked
    const receiver = await startReceiver();
    const { open, clock } = await servedBroker(receiver.url);
    const served = await open();
    const created = await served.broker.create(ALICE, { service: 'acme-prod', reason: 'long ago', duration: '1h' });
    await served.broker.approve(BOB, created.id);
    clock.advance(3 * 60 * MINUTE);
    // When the timer runs / Then nothing is sent
    await served.notifier.tick(served.broker.requestsInMemory());
    await settle();
    expect(receiver.received).toHaveLength(0);
    await served.broker.close();
    await served.notifier.close(1000);
  });
});

describe("the timer's notifications with replicas on one store (a claim decides who sends)", () => {
  it('sends only what its claim won, asks once per notice, and on a failed claim sends nothing and asks again next tick', async () => {
    // Given an approved grant in its last 10 minutes, and a store whose claim another replica partly won
    const receiver = await startReceiver();
    const { open, clock, stateDir } = await servedBroker(receiver.url);
    const served = await open();
    const first = await served.broker.create(ALICE, { service: 'acme-prod', reason: 'incident', duration: '1h' });
    const second = await served.broker.create(ALICE, { service: 'acme-prod', reason: 'incident 2', duration: '1h' });
    await served.broker.approve(BOB, first.id);
    await served.broker.approve(BOB, second.id);
    clock.advance(51 * MINUTE);
    const asked: string[][] = [];
    let failing = true;
    const claim = async (keys: readonly string[]) => {
      asked.push([...keys]);
      if (failing) throw new Error('connection terminated');
      return new Set(keys.filter((key) => key.endsWith(first.id)));
    };
    // When the claim fails / Then nothing is sent, and a warning says it is tried again
    await served.notifier.tick(served.broker.requestsInMemory(), claim);
    await settle();
    expect(receiver.received).toHaveLength(0);
    expect(served.stderr()).toContain('could not claim');
    // When it works / Then only the notice this replica won goes out, and the next tick asks nothing more
    failing = false;
    await served.notifier.tick(served.broker.requestsInMemory(), claim);
    await served.notifier.tick(served.broker.requestsInMemory(), claim);
    await receiver.until(1);
    await settle();
    expect(receiver.received.map((entry) => (JSON.parse(entry.body) as { request: { id: string } }).request.id)).toEqual([first.id]);
    expect(asked.map((keys) => keys.length)).toEqual([2, 2]);
    // and no sent.json: the store is the memory
    expect(() => statSync(path.join(stateDir, 'notify', 'sent.json'))).toThrow();
    await served.broker.close();
    await served.notifier.close(1000);
  });
});

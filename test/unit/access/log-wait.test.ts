import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerClient } from '../../../src/access/client.js';
import { processLockOwner, embeddedClient } from '../../../src/access/open.js';
import { EventLog, type BrokerEvent } from '../../../src/access/store.js';
import { waitForDecision } from '../../../src/access/wait.js';
import { testContext } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { spawnByoc } from '../../fakes/spawn-byoc.js';
import { ALICE, BOB, MovableClock, openRealBroker } from './served-broker.js';

const event = (id: string): BrokerEvent => ({ type: 'request.revoked', at: '2026-11-30T12:00:00.000Z', id, by: 'x' });
const openLog = (dir: string) => EventLog.open(dir, () => undefined, { warn: () => undefined, owner: processLockOwner() });
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe('waiting on the JSONL log (woken by its growth, not by polling)', () => {
  it('Given a waiter on the log, When another writer appends, Then it wakes well within the fallback check, having looked at the file only then', async () => {
    // Given two handles on one folder (two processes); the first waits for a change
    const dir = tempDir();
    const reader = await openLog(dir);
    const writer = await openLog(dir);
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    let wokeAt = 0;
    const woken = reader.changed(abort.signal).then(() => (wokeAt = Date.now()));
    // When nothing is appended for 800 ms
    await delay(800);
    // Then it has looked once (when it started), not on a timer
    expect(wokeAt).toBe(0);
    expect(reader.growthChecks).toBe(1);
    // When the other writer appends
    const appendedAt = Date.now();
    await writer.transact(() => ({ events: [event('a')], result: null }));
    await woken;
    // Then the waiter woke promptly (the fallback check comes every 5 s), after one or two looks at the size
    expect(wokeAt - appendedAt).toBeLessThan(1000);
    expect(reader.growthChecks).toBeLessThanOrEqual(3);
  });

  it('Given a torn tail already seen, When waiting, Then the tear alone does not wake the waiter (no busy loop)', async () => {
    const dir = tempDir();
    const writer = await openLog(dir);
    await writer.transact(() => ({ events: [event('a')], result: null }));
    const { appendFileSync } = await import('node:fs');
    appendFileSync(path.join(dir, 'events.jsonl'), '{"type":"request.rev');
    const reader = await openLog(dir);
    const abort = new AbortController();
    let woke = false;
    const waiting = reader.changed(abort.signal).then(() => (woke = true), () => undefined);
    await delay(300);
    expect(woke).toBe(false);
    abort.abort();
    await waiting;
  });

  it('Given a waiter, When its signal aborts, Then it returns at once without having seen a change (its caller checks the signal)', async () => {
    const reader = await openLog(tempDir());
    const abort = new AbortController();
    const waiting = reader.changed(abort.signal);
    abort.abort(new Error('stop waiting'));
    await expect(waiting).resolves.toBeUndefined();
  });

  it('Given `access wait` woken by changes, When the command is interrupted, Then it stops (exit 130 path) instead of reading on', async () => {
    const stateDir = tempDir();
    const clock = new MovableClock(new Date());
    const { broker } = await openRealBroker(stateDir, clock);
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'merges stuck', duration: '1h' });
    const interrupt = new AbortController();
    const { ctx } = testContext({ env: { BYOC_STATE_DIR: stateDir }, clock, signal: interrupt.signal });
    const waiting = waitForDecision(ctx, embeddedClient(broker, ALICE, path.join(stateDir, 'broker')), created, 600_000);
    setTimeout(() => interrupt.abort(new Error('interrupted')), 100);
    await expect(waiting).rejects.toThrow('interrupted');
  });

  it('Given `access wait` on the embedded broker, When another byoc process approves, Then the waiter wakes at once and read the broker once, not every 2 s', async () => {
    // Given alice's pending request on an embedded broker and her waiter (its reads counted)
    const stateDir = tempDir();
    const clock = new MovableClock(new Date());
    const { broker } = await openRealBroker(stateDir, clock);
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'merges stuck', duration: '1h' });
    const client = embeddedClient(broker, ALICE, path.join(stateDir, 'broker'));
    let reads = 0;
    const counted: BrokerClient = { ...client, get: (id) => (reads++, client.get(id)) };
    const { ctx } = testContext({ env: { BYOC_STATE_DIR: stateDir }, clock });
    let decidedAt = 0;
    const waiting = waitForDecision(ctx, counted, created, 600_000).then((request) => ((decidedAt = Date.now()), request));
    // When, 2.5 s later (past one 2 s poll), bob approves it from another process (the real CLI)
    await delay(2500);
    expect(reads).toBe(0);
    const cwd = tempDir({ 'byoc.config.yaml': `policy: { approvers: [${BOB}] }\nservices: { acme-prod: {} }\n` });
    const approval = await spawnByoc(['access', 'approve', created.id], { cwd, env: { BYOC_STATE_DIR: stateDir, BYOC_USER: BOB } }).exited;
    const approvedAt = Date.now();
    expect(approval.exitCode, approval.stderr).toBe(0);
    const request = await waiting;
    // Then the waiter saw the approval right away, having read the broker once: when the log grew
    expect(request.status).toBe('approved');
    expect(decidedAt - approvedAt).toBeLessThan(1000);
    expect(reads).toBe(1);
  });
});

describe('access wait against a served broker (its long-poll)', () => {
  const pending = { id: 'r-1', status: 'pending', createdAt: new Date().toISOString(), pendingUntil: new Date(Date.now() + 3_600_000).toISOString() } as const;

  it('Given a broker that holds its answer, When the decision comes, Then the waiter returns it without sleeping between asks', async () => {
    const asked: number[] = [];
    const broker = { awaitChange: async (_id: string, seconds: number) => (asked.push(seconds), { ...pending, status: asked.length < 2 ? 'pending' : 'approved' }) } as unknown as BrokerClient;
    // a clock whose time moves only by its own sleeps: a held answer is 25 s of it
    const clock = new MovableClock(new Date());
    const held = broker.awaitChange!.bind(broker);
    (broker as { awaitChange: typeof held }).awaitChange = async (id, seconds) => {
      clock.advance(seconds * 1000);
      return held(id, seconds);
    };
    const slept: number[] = [];
    clock.sleep = async (ms: number) => void slept.push(ms);
    const { ctx } = testContext({ clock });
    const result = await waitForDecision(ctx, broker, pending as never, 600_000);
    expect(result.status).toBe('approved');
    expect(asked).toEqual([25, 25]);
    expect(slept).toEqual([]);
  });

  it('Given a broker from before long-polls (it answers at once), When waiting, Then the waiter asks every 2 s, not in a tight loop', async () => {
    let asks = 0;
    const broker = { awaitChange: async () => ({ ...pending, status: ++asks < 4 ? 'pending' : 'approved' }) } as unknown as BrokerClient;
    const clock = new MovableClock(new Date());
    const slept: number[] = [];
    clock.sleep = async (ms: number) => {
      slept.push(ms);
      clock.advance(ms);
    };
    const { ctx } = testContext({ clock });
    expect((await waitForDecision(ctx, broker, pending as never, 600_000)).status).toBe('approved');
    expect(slept).toEqual([2000, 2000, 2000]);
  });
});

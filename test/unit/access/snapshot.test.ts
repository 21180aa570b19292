import { appendFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccessBroker, brokerDir, hashToken } from '../../../src/access/broker.js';
import { embeddedClient, processLockOwner } from '../../../src/access/open.js';
import { servicesFromConfig } from '../../../src/access/policy.js';
import { readSnapshot } from '../../../src/access/snapshot.js';
import { writeEventLog, type BrokerEvent, type StoreOptions } from '../../../src/access/store.js';
import { testBrokerCa } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const NOW = new Date('2026-11-30T09:00:00.000Z');

type Created = Extract<BrokerEvent, { type: 'request.created' }>;

function created(id: string, at: Date, durationMs = 2 * HOUR): Created {
  return {
    type: 'request.created',
    at: at.toISOString(),
    id,
    service: 'acme-prod',
    scopes: ['clickhouse'],
    requester: ALICE,
    reason: `incident ${id}`,
    duration: `${durationMs / HOUR}h`,
    durationMs,
    approvalsRequired: 1,
    pendingUntil: new Date(at.getTime() + 24 * HOUR).toISOString(),
  };
}

/** A request approved at `at` + 1 min with a certificate issued a minute later, as the broker logs one. */
function granted(id: string, at: Date, durationMs = 2 * HOUR): BrokerEvent[] {
  const approvedAt = new Date(at.getTime() + MINUTE);
  return [
    created(id, at, durationMs),
    { type: 'request.reviewed', at: approvedAt.toISOString(), id, reviewer: BOB, decision: 'approve' },
    { type: 'certificate.issued', at: new Date(at.getTime() + 2 * MINUTE).toISOString(), id, serial: `5e${id.slice(2).replace(/[^0-9a-f]/g, 'a')}`, notAfter: new Date(approvedAt.getTime() + durationMs).toISOString(), identity: ALICE },
  ];
}

/**
 * A year of use: `total` events, nearly all of them finished requests (expired grants, some denied, some revoked
 * long ago), then one live request approved minutes before NOW, as the last three lines.
 */
function yearOfLog(total: number): { events: BrokerEvent[]; live: string; old: string } {
  const events: BrokerEvent[] = [{ type: 'token.created', at: new Date(NOW.getTime() - 366 * 24 * HOUR).toISOString(), user: ALICE, tokenHash: 'a'.repeat(64) }];
  const start = NOW.getTime() - 365 * 24 * HOUR;
  for (let i = 0; events.length < total - 3; i++) {
    const id = `r-${i.toString(36).padStart(10, '0')}`;
    const at = new Date(start + i * 15 * MINUTE);
    if (i % 10 === 3) {
      events.push(created(id, at), { type: 'request.reviewed', at: new Date(at.getTime() + MINUTE).toISOString(), id, reviewer: BOB, decision: 'deny', comment: 'no' });
      continue;
    }
    events.push(...granted(id, at));
    if (i % 25 === 7) events.push({ type: 'request.revoked', at: new Date(at.getTime() + 30 * MINUTE).toISOString(), id, by: BOB });
  }
  const live = 'r-live000001';
  events.push(...granted(live, new Date(NOW.getTime() - 10 * MINUTE)));
  return { events, live, old: 'r-0000000007' };
}

function open(stateDir: string, now: Date, store: Partial<StoreOptions> = {}) {
  return AccessBroker.open(stateDir, {
    services: servicesFromConfig({ policy: { approvers: [BOB] }, services: { 'acme-prod': {} } }),
    now: () => now,
    ca: testBrokerCa,
    store: { warn: () => undefined, owner: processLockOwner(), ...store },
  });
}

const logFile = (stateDir: string) => path.join(brokerDir(stateDir), 'events.jsonl');
const snapshotFile = (stateDir: string) => path.join(brokerDir(stateDir), 'events.snapshot.json');
const lines = (events: BrokerEvent[]) => events.map((event) => `${JSON.stringify(event)}\n`).join('');

/** Replaces the first byte of each chosen line (1-based) by `X`: the same length, and not JSON any more. */
function damageLines(file: string, numbers: number[]): void {
  const buffer = readFileSync(file);
  let line = 1;
  for (let at = 0; at < buffer.length; at = buffer.indexOf(0x0a, at) + 1) {
    if (numbers.includes(line)) buffer[at] = 0x58;
    line++;
    if (buffer.indexOf(0x0a, at) === -1) break;
  }
  writeFileSync(file, buffer);
}

describe('the broker snapshot: reads independent of the log size', () => {
  it('answers whoami + get() of a live request on a 100k-event log from the snapshot and the tail alone, never reading the prefix', { timeout: 60_000 }, async () => {
    // Given a year of log (100k events, one live request at the end), opened once: the snapshot is written
    const stateDir = tempDir();
    const { events, live, old } = yearOfLog(100_000);
    await writeEventLog(brokerDir(stateDir), events);
    const first = await open(stateDir, NOW);
    expect(first.requestCount).toBe(events.filter((event) => event.type === 'request.created').length);
    const snapshot = (await readSnapshot(brokerDir(stateDir)))?.snapshot;
    expect(snapshot?.position.lines).toBe(100_000);
    // it holds the live state only: the live request, nothing finished
    expect(snapshot?.state.requests.map((record) => record.created.id)).toEqual([live]);
    expect(statSync(snapshotFile(stateDir)).size).toBeLessThan(4096);
    expect(statSync(snapshotFile(stateDir)).mode & 0o777).toBe(0o600);
    // And another process appended a request after it (the tail)
    appendFileSync(logFile(stateDir), lines(granted('r-tail000001', new Date(NOW.getTime() - 5 * MINUTE))));
    // And every line of the log's prefix but the last one the snapshot covers is now unreadable (same length)
    damageLines(logFile(stateDir), [1, 2, 50_000, 99_999]);

    // When a new process checks the live requests as `byoc query` does (whoami, then get of its certificate's request)
    const client = embeddedClient(await open(stateDir, NOW), ALICE, brokerDir(stateDir));
    // Then it answers from the snapshot and the tail: the damaged prefix was never read
    expect(await client.whoami()).toBe(ALICE);
    expect(await client.get(live)).toMatchObject({ id: live, status: 'approved', certificates: [expect.objectContaining({ serial: expect.any(String) })] });
    expect(await client.get('r-tail000001')).toMatchObject({ status: 'approved' });
    // And a finished request is still found, read back from the lines that name it
    expect(await client.get(old)).toMatchObject({ id: old, status: 'revoked', revokedBy: BOB });

    // While a full replay (no snapshot) does read the prefix, and names its first damaged line
    rmSync(snapshotFile(stateDir));
    await expect(open(stateDir, NOW)).rejects.toMatchObject({ code: 'store_corrupt', message: expect.stringContaining('line 1 is not JSON') });
  });

  it('gives the same answers about finished requests as a full replay: get of an old id, list, the count, the CRL', { timeout: 60_000 }, async () => {
    // Given a log of 3000 events and its snapshot
    const stateDir = tempDir();
    const { events, old } = yearOfLog(3000);
    await writeEventLog(brokerDir(stateDir), events);
    await open(stateDir, NOW, { snapshotAfterBytes: 0 });
    expect(await readSnapshot(brokerDir(stateDir))).toBeDefined();
    // When one broker resumes from it and another replays the whole log
    const resumed = await open(stateDir, NOW);
    const replayDir = tempDir();
    await writeEventLog(brokerDir(replayDir), events);
    const replayed = await open(replayDir, NOW, { snapshotAfterBytes: Number.MAX_SAFE_INTEGER });
    // Then both say the same
    expect(resumed.requestCount).toBe(replayed.requestCount);
    expect(await resumed.get(ALICE, old)).toEqual(await replayed.get(ALICE, old));
    expect(await resumed.list(ALICE, { status: 'approved' })).toEqual(await replayed.list(ALICE, { status: 'approved' }));
    expect(await resumed.list(ALICE)).toEqual(await replayed.list(ALICE));
    const [a, b] = [await resumed.crl(), await replayed.crl()];
    expect({ number: a.number, revoked: a.revoked }).toEqual({ number: b.number, revoked: b.revoked });
  });

  describe('a snapshot that cannot be trusted is ignored and rebuilt, with the answers of a full replay', () => {
    const cases: [string, (stateDir: string, events: BrokerEvent[]) => void][] = [
      ['missing', (stateDir) => rmSync(snapshotFile(stateDir))],
      ['stale (another process appended after it)', (stateDir) => appendFileSync(logFile(stateDir), lines(granted('r-later00001', new Date(NOW.getTime() - MINUTE))))],
      ['corrupt (not JSON)', (stateDir) => writeFileSync(snapshotFile(stateDir), '{"version":1,"asOf":')],
      ['of a foreign version', (stateDir) => writeFileSync(snapshotFile(stateDir), readFileSync(snapshotFile(stateDir), 'utf8').replace('"version":1', '"version":2'))],
      [
        'about another log (the line it names is not there)',
        // the same length, every certificate's serial changed (the last line among them)
        (stateDir, events) => writeFileSync(logFile(stateDir), lines(events.map((event) => (event.type === 'certificate.issued' ? { ...event, serial: `6f${event.serial.slice(2)}` } : event)))),
      ],
      ['from the future (the clock went back)', (stateDir) => writeFileSync(snapshotFile(stateDir), readFileSync(snapshotFile(stateDir), 'utf8').replace(/"asOf":"[^"]+"/, `"asOf":"${new Date(NOW.getTime() + HOUR).toISOString()}"`))],
    ];
    it.each(cases)('%s', async (_name, spoil) => {
      // Given a snapshot of a 600-event log, then spoiled
      const stateDir = tempDir();
      const { events, live, old } = yearOfLog(600);
      await writeEventLog(brokerDir(stateDir), events);
      await open(stateDir, NOW, { snapshotAfterBytes: 0 });
      spoil(stateDir, events);
      // When the broker opens
      const broker = await open(stateDir, NOW, { snapshotAfterBytes: 0 });
      // Then it answers as a full replay of the same log does
      const replayDir = tempDir();
      await writeEventLog(brokerDir(replayDir), []);
      writeFileSync(logFile(replayDir), readFileSync(logFile(stateDir)));
      const replayed = await open(replayDir, NOW, { snapshotAfterBytes: Number.MAX_SAFE_INTEGER });
      for (const id of [live, old, 'r-later00001']) {
        expect(await broker.get(ALICE, id).catch((error: { code: string }) => error.code)).toEqual(await replayed.get(ALICE, id).catch((error: { code: string }) => error.code));
      }
      expect(await broker.list(ALICE)).toEqual(await replayed.list(ALICE));
      // And the snapshot on disk is a good one again, covering the whole log
      const rebuilt = (await readSnapshot(brokerDir(stateDir)))?.snapshot;
      expect(rebuilt?.position.offset).toBe(statSync(logFile(stateDir)).size);
    });
  });

  it('keeps a revoked request in the snapshot while a CRL still owes its certificate, and puts it away after', async () => {
    // Given a grant revoked 30 minutes in, its certificate valid 2 h, in a log with a snapshot
    const stateDir = tempDir();
    const start = new Date(NOW.getTime() - HOUR);
    await writeEventLog(brokerDir(stateDir), [...granted('r-revoked001', start), { type: 'request.revoked', at: new Date(start.getTime() + 30 * MINUTE).toISOString(), id: 'r-revoked001', by: BOB }]);
    await open(stateDir, NOW, { snapshotAfterBytes: 0 });
    // When a new process makes the CRL from the snapshot alone
    const crl = await (await open(stateDir, NOW)).crl();
    // Then the certificate is on it
    expect(crl.revoked.map((entry) => entry.requestId)).toEqual(['r-revoked001']);
    expect((await readSnapshot(brokerDir(stateDir)))?.snapshot.state.requests.map((record) => record.created.id)).toEqual(['r-revoked001']);
    // And once the certificate is past the CRL's reach, a new snapshot leaves the request out (counted, still found)
    const later = new Date(NOW.getTime() + 4 * HOUR);
    appendFileSync(logFile(stateDir), lines([created('r-other00001', later)]));
    await open(stateDir, later, { snapshotAfterBytes: 0 });
    expect((await readSnapshot(brokerDir(stateDir)))?.snapshot.state).toMatchObject({ requests: [expect.objectContaining({ created: expect.objectContaining({ id: 'r-other00001' }) })], total: 2, revocations: 1 });
    const afterwards = await open(stateDir, later);
    expect((await afterwards.crl()).revoked).toEqual([]);
    expect(await afterwards.get(BOB, 'r-revoked001')).toMatchObject({ status: 'revoked' });
  });

  it('replays the whole log when a writer with a clock behind decided on a request the snapshot put away, and writes a new snapshot', async () => {
    // Given a snapshot taken when a grant had expired (so it was put away)
    const stateDir = tempDir();
    const { events, live } = yearOfLog(40);
    const total = events.filter((event) => event.type === 'request.created').length + 1;
    await writeEventLog(brokerDir(stateDir), [...events, ...granted('r-expired001', new Date(NOW.getTime() - 5 * HOUR))]);
    await open(stateDir, NOW, { snapshotAfterBytes: 0 });
    expect((await readSnapshot(brokerDir(stateDir)))?.snapshot.state).toMatchObject({ requests: [expect.objectContaining({ created: expect.objectContaining({ id: live }) })], total });
    // And then a process whose clock lags by hours revoked it
    appendFileSync(logFile(stateDir), lines([{ type: 'request.revoked', at: new Date(NOW.getTime() - 4 * HOUR).toISOString(), id: 'r-expired001', by: BOB }]));
    // When the broker opens again (with a threshold far above that one line, below the whole log)
    const broker = await open(stateDir, NOW, { snapshotAfterBytes: 2000 });
    // Then it answers as a full replay does (revoked, and counted for the CRL's number)
    expect(await broker.get(ALICE, 'r-expired001')).toMatchObject({ status: 'revoked' });
    const revocations = events.filter((event) => event.type === 'request.revoked').length + 1;
    // And it wrote a new snapshot, so the next process does not replay the whole log again
    expect((await readSnapshot(brokerDir(stateDir)))?.snapshot).toMatchObject({ position: { offset: statSync(logFile(stateDir)).size }, state: { revocations, total } });
  });

  it('still refuses a bad line after the snapshot with store_corrupt naming its line in the file', async () => {
    // Given a 600-line log with its snapshot, then a good line and a bad one appended
    const stateDir = tempDir();
    const { events } = yearOfLog(600);
    await writeEventLog(brokerDir(stateDir), events);
    await open(stateDir, NOW, { snapshotAfterBytes: 0 });
    appendFileSync(logFile(stateDir), `${lines([created('r-later00001', NOW)])}{"type":"request.reviewed"}\n`);
    // When the broker opens, resuming from the snapshot
    // Then the bad line is named by its number in the whole file, not in the tail
    await expect(open(stateDir, NOW)).rejects.toMatchObject({
      code: 'store_corrupt',
      message: expect.stringContaining(`line ${events.length + 2} is not a broker event: request.reviewed without at, id, reviewer`),
    });
  });

  it('the state from snapshot + tail equals the state from a full replay, for random logs cut anywhere (property)', { timeout: 120_000 }, async () => {
    const T0 = Date.parse('2026-06-01T00:00:00.000Z');
    const ids = ['r-a', 'r-b', 'r-c'];
    const tokenIds = ['t-000000000001', 't-000000000002'];
    const at = fc.integer({ min: 0, max: 12 * 60 }).map((minutes) => new Date(T0 + minutes * MINUTE).toISOString());
    const event: fc.Arbitrary<BrokerEvent> = fc.oneof(
      { arbitrary: fc.record({ id: fc.constantFrom(...ids), at, hours: fc.integer({ min: 1, max: 4 }), pending: fc.integer({ min: 10, max: 240 }), approvals: fc.integer({ min: 1, max: 2 }) }).map(
        ({ id, at, hours, pending, approvals }): BrokerEvent => ({ ...created(id, new Date(at), hours * HOUR), approvalsRequired: approvals, pendingUntil: new Date(Date.parse(at) + pending * MINUTE).toISOString() }),
      ), weight: 3 },
      { arbitrary: fc.record({ id: fc.constantFrom(...ids), at, reviewer: fc.constantFrom(BOB, 'carol@vendor.example'), decision: fc.constantFrom('approve' as const, 'approve' as const, 'deny' as const) }).map(
        ({ id, at, reviewer, decision }): BrokerEvent => ({ type: 'request.reviewed', at, id, reviewer, decision, ...(decision === 'deny' ? { comment: 'no' } : {}) }),
      ), weight: 3 },
      { arbitrary: fc.record({ id: fc.constantFrom(...ids), at }).map(({ id, at }): BrokerEvent => ({ type: 'request.revoked', at, id, by: BOB })), weight: 2 },
      { arbitrary: fc.record({ id: fc.constantFrom(...ids), at, serial: fc.integer({ min: 1, max: 1 << 30 }), hours: fc.integer({ min: 0, max: 6 }) }).map(
        ({ id, at, serial, hours }): BrokerEvent => ({ type: 'certificate.issued', at, id, serial: serial.toString(16).padStart(8, '1'), notAfter: new Date(Date.parse(at) + hours * HOUR).toISOString(), identity: ALICE }),
      ), weight: 3 },
      // tokens of before #16 (no id, expiry or groups) and after, and revocations of the latter
      { arbitrary: fc.record({ at, user: fc.constantFrom(ALICE, BOB) }).map(({ at, user }): BrokerEvent => ({ type: 'token.created', at, user, tokenHash: hashToken(`${user}/${at}`) })), weight: 1 },
      { arbitrary: fc.record({ at, user: fc.constantFrom(ALICE, BOB), id: fc.constantFrom(...tokenIds), hours: fc.option(fc.integer({ min: 1, max: 12 })), groups: fc.subarray(['auditors', 'team:db']) }).map(
        ({ at, user, id, hours, groups }): BrokerEvent => ({ type: 'token.created', at, user, tokenHash: hashToken(`${user}/${at}`), id, ...(hours ? { expiresAt: new Date(Date.parse(at) + hours * HOUR).toISOString() } : {}), ...(groups.length ? { groups } : {}) }),
      ), weight: 1 },
      { arbitrary: fc.record({ at, id: fc.constantFrom(...tokenIds) }).map(({ at, id }): BrokerEvent => ({ type: 'token.revoked', at, id, by: BOB })), weight: 1 },
    );
    await fc.assert(
      fc.asyncProperty(
        // each request is created once at most (ids are random and never reused)
        fc.array(event, { maxLength: 30 }).map((all) => all.filter((event, index) => event.type !== 'request.created' || all.findIndex((other) => other.type === 'request.created' && other.id === event.id) === index)),
        fc.nat(),
        fc.integer({ min: 0, max: 20 * 60 }),
        fc.integer({ min: 0, max: 8 * 60 }),
        async (events, cut, snapshotMinutes, laterMinutes) => {
          // Given a log whose first part a broker opened (writing its snapshot at that time), and the rest appended after
          const split = events.length === 0 ? 0 : cut % (events.length + 1);
          const snapshotAt = new Date(T0 + snapshotMinutes * MINUTE);
          const now = new Date(snapshotAt.getTime() + laterMinutes * MINUTE);
          const stateDir = tempDir();
          await writeEventLog(brokerDir(stateDir), events.slice(0, split));
          await open(stateDir, snapshotAt, { snapshotAfterBytes: 0 });
          appendFileSync(logFile(stateDir), lines(events.slice(split)));
          // When one broker resumes from the snapshot and another replays the whole log, at the same later time
          const resumed = await open(stateDir, now, { snapshotAfterBytes: Number.MAX_SAFE_INTEGER });
          const replayDir = tempDir();
          await writeEventLog(brokerDir(replayDir), events);
          const replayed = await open(replayDir, now, { snapshotAfterBytes: Number.MAX_SAFE_INTEGER });
          // Then every answer is the same: first those from memory alone (live lists, the CRL, tokens), then each
          // request (a finished one read back from the log), then everything
          expect(resumed.requestCount).toBe(replayed.requestCount);
          for (const status of ['pending', 'approved'] as const) expect(await resumed.list(ALICE, { status })).toEqual(await replayed.list(ALICE, { status }));
          const [a, b] = [await resumed.crl(), await replayed.crl()];
          expect({ number: a.number, revoked: a.revoked }).toEqual({ number: b.number, revoked: b.revoked });
          for (const event of events) if (event.type === 'token.created') expect(await resumed.authenticateToken(`${event.user}/${event.at}`)).toEqual(await replayed.authenticateToken(`${event.user}/${event.at}`));
          expect(await resumed.listTokens()).toEqual(await replayed.listTokens());
          for (const id of ids) {
            expect(await resumed.get(ALICE, id).catch((error: { code: string }) => error.code)).toEqual(await replayed.get(ALICE, id).catch((error: { code: string }) => error.code));
          }
          expect(await resumed.list(ALICE)).toEqual(await replayed.list(ALICE));
          expect(resumed.requestCount).toBe(replayed.requestCount);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('the served broker holds the store', () => {
  it('takes the lock once: commits leave the lock file alone, and an embedded writer meanwhile fails fast (exit 3) naming the pid and the URL', async () => {
    // Given a broker holding the store, announced at its URL
    const stateDir = tempDir();
    const served = await open(stateDir, NOW, { hold: true });
    await served.announce('http://127.0.0.1:8787');
    const lock = path.join(brokerDir(stateDir), 'events.lock');
    const before = statSync(lock, { bigint: true });
    // When it commits decisions
    const request = await served.create(ALICE, { service: 'acme-prod', reason: 'merges stuck', duration: '1h' });
    await served.approve(BOB, request.id);
    // Then the lock it took at start is still the same file (no round trip per commit)
    const after = statSync(lock, { bigint: true });
    expect([after.ino, after.mtimeNs]).toEqual([before.ino, before.mtimeNs]);
    // And an embedded command (another broker on the same folder) can still read
    const embedded = await open(stateDir, NOW, { lockTimeoutMs: 10_000 });
    expect(await embedded.get(ALICE, request.id)).toMatchObject({ status: 'approved' });
    // But a write fails at once, saying who holds the store and where it serves
    const started = Date.now();
    const refusal = await embedded.revoke(ALICE, request.id).catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(refusal).toMatchObject({ code: 'broker_served', exitCode: 3, message: expect.stringContaining(`process ${process.pid}, serving http://127.0.0.1:8787`) });
    expect((refusal as { hint: string }).hint).toContain('broker.url to http://127.0.0.1:8787');
    // And once it stops, the embedded command can write
    await served.close();
    expect(existsSync(lock)).toBe(false);
    expect(await embedded.revoke(ALICE, request.id)).toMatchObject({ status: 'revoked' });
  });

  it('never snapshots a decision its log failed to write (memory is then ahead of the disk)', async () => {
    // Given a served broker whose append file fails after one good decision (its descriptor closed under it)
    const stateDir = tempDir();
    const served = await open(stateDir, NOW, { hold: true, snapshotAfterBytes: Number.MAX_SAFE_INTEGER });
    const good = await served.create(ALICE, { service: 'acme-prod', reason: 'written', duration: '1h' });
    const log = (served as unknown as { log: { held: { handle: { close(): Promise<void> } } } }).log;
    await log.held.handle.close();
    // When a decision cannot be written
    await expect(served.create(ALICE, { service: 'acme-prod', reason: 'lost', duration: '1h' })).rejects.toMatchObject({ code: 'store_write_failed' });
    // Then stopping writes no snapshot holding it: a new process knows only what the log has
    await served.close();
    const reopened = await open(stateDir, NOW);
    expect((await reopened.list(ALICE, { status: 'pending' })).map((request) => request.id)).toEqual([good.id]);
    expect((await readSnapshot(brokerDir(stateDir)))?.snapshot.state.requests.map((record) => record.created.reason) ?? []).not.toContain('lost');
  });

  it('keeps its state in memory and appends only, writing snapshots as the log grows and one when it stops', async () => {
    // Given a served broker with a small snapshot threshold
    const stateDir = tempDir();
    const served = await open(stateDir, NOW, { hold: true, snapshotAfterBytes: 2000 });
    // When it commits a few dozen decisions
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const request = await served.create(ALICE, { service: 'acme-prod', reason: `incident ${i}`, duration: '1h' });
      await served.approve(BOB, request.id);
      ids.push(request.id);
    }
    // Then it answers from memory: a line no byoc wrote, appended behind its back, is never read while it serves
    appendFileSync(logFile(stateDir), 'not json\n');
    expect(await served.get(ALICE, ids[0]!)).toMatchObject({ status: 'approved' });
    expect(await served.list(ALICE)).toHaveLength(12);
    writeFileSync(logFile(stateDir), readFileSync(logFile(stateDir), 'utf8').replace('not json\n', ''));
    await served.close();
    // Then a snapshot covers the whole log, and a new process resuming from it sees every request
    expect((await readSnapshot(brokerDir(stateDir)))?.snapshot.position.offset).toBe(statSync(logFile(stateDir)).size);
    const reopened = await open(stateDir, NOW);
    expect(await reopened.list(ALICE, { status: 'approved' })).toHaveLength(12);
  });
});

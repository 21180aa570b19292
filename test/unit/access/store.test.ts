import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { processLockOwner } from '../../../src/access/open.js';
import { EventLog, withStoreLock, type BrokerEvent, type LockOwner, type StoreOptions } from '../../../src/access/store.js';
import { tempDir } from '../../fakes/fs.js';
import { openRealBroker, serveRealBroker } from './served-broker.js';

const event = (id: string): BrokerEvent => ({ type: 'request.revoked', at: '2026-11-21T10:00:00.000Z', id, by: 'x' });

async function openLog(dir: string, options: Partial<StoreOptions> = {}) {
  const seen: BrokerEvent[] = [];
  const warnings: string[] = [];
  const log = await EventLog.open(dir, (e) => seen.push(e), { warn: (m) => warnings.push(m), owner: processLockOwner(), ...options });
  return { log, seen, warnings };
}

describe('the event log', () => {
  it('appends one JSON line per event and replays them on restart', async () => {
    // Given a log with three appended events
    const dir = tempDir();
    const first = await openLog(dir);
    await first.log.transact(() => ({ events: [event('a'), event('b')], result: null }));
    await first.log.transact(() => ({ events: [event('c')], result: null }));
    // When it is opened again
    const second = await openLog(dir);
    // Then every event is replayed in order, from a 0600 file
    expect(second.seen.map((e) => (e as { id: string }).id)).toEqual(['a', 'b', 'c']);
    expect(readFileSync(path.join(dir, 'events.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
    expect(statSync(path.join(dir, 'events.jsonl')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('ignores a torn last line with a warning, keeps every earlier event, and cuts the tear before the next write', async () => {
    // Given a log whose last write was cut mid-line by a crash
    const dir = tempDir();
    const first = await openLog(dir);
    await first.log.transact(() => ({ events: [event('a'), event('b')], result: null }));
    appendFileSync(path.join(dir, 'events.jsonl'), '{"type":"request.revoked","at":"2026-11-21T10:0');
    // When it is reopened
    const second = await openLog(dir);
    // Then the earlier events survive and the torn line is reported
    expect(second.seen.map((e) => (e as { id: string }).id)).toEqual(['a', 'b']);
    expect(second.warnings.join()).toContain('ignoring a torn last line');
    // And the next append starts on a clean line
    await second.log.transact(() => ({ events: [event('c')], result: null }));
    const third = await openLog(dir);
    expect(third.seen.map((e) => (e as { id: string }).id)).toEqual(['a', 'b', 'c']);
    expect(third.warnings).toEqual([]);
  });

  it('refuses a log with an unreadable line in the middle instead of silently dropping decisions', async () => {
    const dir = tempDir({ 'events.jsonl': `${JSON.stringify(event('a'))}\nnot json\n${JSON.stringify(event('b'))}\n` });
    await expect(openLog(dir)).rejects.toMatchObject({ code: 'store_corrupt' });
  });

  it('catches up with events another process appended before deciding', async () => {
    // Given two handles on the same folder (two byoc processes)
    const dir = tempDir();
    const one = await openLog(dir);
    const two = await openLog(dir);
    await one.log.transact(() => ({ events: [event('from-one')], result: null }));
    // When the second one decides, Then it has seen the first one's event first
    let seenBeforeDeciding: string[] = [];
    await two.log.transact(() => {
      seenBeforeDeciding = two.seen.map((e) => (e as { id: string }).id);
      return { events: [event('from-two')], result: null };
    });
    expect(seenBeforeDeciding).toEqual(['from-one']);
  });

  it('serialises concurrent transactions so none is lost', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir);
    await Promise.all(Array.from({ length: 40 }, (_, i) => log.transact(() => ({ events: [event(`e${i}`)], result: i }))));
    const reopened = await openLog(dir);
    expect(reopened.seen).toHaveLength(40);
  });
});

describe('group commit', () => {
  it('commits queued transactions together, each seeing the ones before it, and rejects only the one that throws', async () => {
    const dir = tempDir();
    const { log, seen } = await openLog(dir);
    const outcomes = await Promise.allSettled([
      log.transact(() => ({ events: [event('first')], result: 1 })),
      log.transact(() => {
        if (!seen.some((e) => (e as { id: string }).id === 'first')) throw new Error('did not see first');
        return { events: [event('second')], result: 2 };
      }),
      log.transact(() => {
        throw new Error('refused');
      }),
      log.transact(() => ({ events: [event('third')], result: 3 })),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const reopened = await openLog(dir);
    expect(reopened.seen.map((e) => (e as { id: string }).id)).toEqual(['first', 'second', 'third']);
  });
});

/** A lock owner for one pretend process of this host; `alive` says which pids this host has running. */
function owner(pid: number, alive: Set<number>, host = processLockOwner().host): LockOwner {
  return { pid, host, isAlive: (candidate) => alive.has(candidate) };
}

const lockFile = (dir: string) => path.join(dir, 'events.lock');
const ids = (seen: BrokerEvent[]) => seen.map((e) => (e as { id: string }).id);

describe('the store lock', () => {
  it('is written together with its owner (pid and host), and removed after the write', async () => {
    // Given a log owned by pretend process 4100 of this host
    const dir = tempDir();
    const me = owner(4100, new Set([4100]));
    const { log } = await openLog(dir, { owner: me });
    // When a transaction runs, Then the lock it holds already names its owner
    let during = '';
    await log.transact(() => {
      during = readFileSync(lockFile(dir), 'utf8');
      return { events: [event('a')], result: null };
    });
    expect(JSON.parse(during)).toEqual({ pid: 4100, host: me.host });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    // And nothing is left behind: no lock, no claim file
    expect(readdirSync(dir)).toEqual(['events.jsonl']);
  });

  it('takes over an empty lock older than a few seconds at once, far within the 10 s timeout', async () => {
    // Given an empty lock file last touched a minute ago (a crash between creating and writing it)
    const dir = tempDir();
    const { log, warnings } = await openLog(dir);
    writeFileSync(lockFile(dir), '');
    const minuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lockFile(dir), minuteAgo, minuteAgo);
    // When a write comes
    const started = performance.now();
    await log.transact(() => ({ events: [event('after-crash')], result: null }));
    // Then it succeeds quickly, says so, and the event is on disk
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(warnings.join('\n')).toMatch(/took over the broker store lock .*events\.lock: empty or unreadable for \d+ s/);
    expect(ids((await openLog(dir)).seen)).toEqual(['after-crash']);
    expect(existsSync(lockFile(dir))).toBe(false);
  });

  it('takes over an unreadable (not JSON) lock once it is old, the same way', async () => {
    const dir = tempDir();
    const { log, warnings } = await openLog(dir);
    writeFileSync(lockFile(dir), '\u0000\u0000garbage');
    const old = new Date(Date.now() - 30_000);
    utimesSync(lockFile(dir), old, old);
    await log.transact(() => ({ events: [event('a')], result: null }));
    expect(warnings.join()).toContain('empty or unreadable');
  });

  it('waits on an empty lock that is fresh (its writer may still be filling it) instead of stealing it', async () => {
    // Given an empty lock created just now
    const dir = tempDir();
    writeFileSync(lockFile(dir), '');
    // When an impatient writer comes, Then it gives up with store_locked and leaves the lock alone
    const impatient = await openLog(dir, { lockTimeoutMs: 300 });
    await expect(impatient.log.transact(() => ({ events: [event('stolen')], result: null }))).rejects.toMatchObject({
      code: 'store_locked',
      message: expect.stringContaining('still writing it'),
    });
    expect(readFileSync(lockFile(dir), 'utf8')).toBe('');
    // And a patient writer proceeds as soon as the lock's holder releases it
    const patient = await openLog(dir);
    const write = patient.log.transact(() => ({ events: [event('after-release')], result: null }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    rmSync(lockFile(dir));
    await write;
    expect(ids((await openLog(dir)).seen)).toEqual(['after-release']);
    expect(impatient.warnings).toEqual([]);
  });

  it('respects the lock of a live process, naming it', async () => {
    // Given a lock held by pretend process 4200, which is alive
    const dir = tempDir();
    writeFileSync(lockFile(dir), JSON.stringify({ pid: 4200, host: processLockOwner().host }));
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(lockFile(dir), old, old);
    const { log } = await openLog(dir, { owner: owner(4201, new Set([4200, 4201])), lockTimeoutMs: 200 });
    // When another process wants to write, Then it waits, gives up (exit 5) and the lock is untouched, however old
    await expect(log.transact(() => ({ events: [event('b')], result: null }))).rejects.toMatchObject({
      code: 'store_locked',
      exitCode: 5,
      message: expect.stringContaining('process 4200'),
    });
    expect(JSON.parse(readFileSync(lockFile(dir), 'utf8')).pid).toBe(4200);
  });

  it("takes over a dead process's lock (and one in the older bare-pid format)", async () => {
    for (const content of [JSON.stringify({ pid: 4300, host: processLockOwner().host }), '4300\n']) {
      // Given a fresh lock of pretend process 4300, which is gone
      const dir = tempDir();
      writeFileSync(lockFile(dir), content);
      const { log, warnings } = await openLog(dir, { owner: owner(4301, new Set([4301])) });
      // When a live process writes, Then it takes the lock over at once
      const started = performance.now();
      await log.transact(() => ({ events: [event('a')], result: null }));
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(warnings.join()).toContain('left by process 4300, which is gone');
    }
  });

  it('never takes over a lock written on another host (its process cannot be checked from here)', async () => {
    const dir = tempDir();
    writeFileSync(lockFile(dir), JSON.stringify({ pid: 4400, host: 'some-other-host' }));
    const { log } = await openLog(dir, { owner: owner(4401, new Set([4401])), lockTimeoutMs: 150 });
    await expect(log.transact(() => ({ events: [event('a')], result: null }))).rejects.toMatchObject({
      code: 'store_locked',
      message: expect.stringContaining('process 4400 on host some-other-host'),
    });
  });

  it('lets exactly one of many processes in at a time when they all find the same stale lock', async () => {
    // Given, many times over, a lock of a dead process and twelve live processes that all want the lock at once
    const dir = tempDir();
    const alive = new Set(Array.from({ length: 12 }, (_, i) => 4501 + i));
    let most = 0;
    let takeovers = 0;
    const rounds = 8;
    for (let round = 0; round < rounds; round++) {
      writeFileSync(lockFile(dir), JSON.stringify({ pid: 4500, host: processLockOwner().host }));
      let inside = 0;
      // When each takes the lock and holds it across a few awaits
      await Promise.all(
        [...alive].map((pid) =>
          // A generous wait: twelve contenders on a loaded machine must never time out, only take turns.
          withStoreLock(dir, { warn: (m) => (takeovers += m.includes('took over') ? 1 : 0), owner: owner(pid, alive), lockTimeoutMs: 60_000 }, async () => {
            inside++;
            most = Math.max(most, inside);
            await new Promise((resolve) => setImmediate(resolve));
            inside--;
          }),
        ),
      );
    }
    // Then they always went in one by one, each stale lock was taken over once, and nothing is left behind
    expect(most).toBe(1);
    expect(takeovers).toBe(rounds);
    expect(readdirSync(dir)).toEqual([]);
  }, 120_000);
});

describe('the store lock takeover race', () => {
  it('puts back a live lock that replaced the stale one it judged, instead of removing it', async () => {
    // Given a lock of dead process 4600, and a rival (4601) that takes it over just after we looked at it
    const dir = tempDir();
    const host = processLockOwner().host;
    writeFileSync(lockFile(dir), JSON.stringify({ pid: 4600, host }));
    const rival = JSON.stringify({ pid: 4601, host });
    let replaced = false;
    const me: LockOwner = {
      pid: 4602,
      host,
      isAlive: (pid) => {
        if (pid === 4600 && !replaced) {
          replaced = true;
          rmSync(lockFile(dir));
          writeFileSync(lockFile(dir), rival);
        }
        return pid !== 4600;
      },
    };
    const { log, warnings } = await openLog(dir, { owner: me, lockTimeoutMs: 200 });
    // When we act on our (now outdated) verdict, Then the rival keeps its lock and we wait for it
    await expect(log.transact(() => ({ events: [event('a')], result: null }))).rejects.toMatchObject({
      code: 'store_locked',
      message: expect.stringContaining('process 4601'),
    });
    expect(readFileSync(lockFile(dir), 'utf8')).toBe(rival);
    expect(warnings.join()).not.toContain('took over');
    expect(readdirSync(dir).sort()).toEqual(['events.lock']);
  });
});

describe('event validation on replay', () => {
  const good = JSON.stringify(event('a'));
  it.each([
    ['an empty object', '{}', 'no type'],
    ['an array', '[]', 'expected an object, got an array'],
    ['a number', '42', 'expected an object, got number'],
    ['null', 'null', 'expected an object, got null'],
    ['a string', '"request.created"', 'expected an object, got string'],
    ['a request.created without its fields', '{"type":"request.created"}', 'request.created without at, id, service, requester, reason, duration, pendingUntil'],
    ['a request.created with scopes that are not a list', JSON.stringify({ type: 'request.created', at: 'x', id: 'r-1', service: 's', requester: 'a', reason: 'r', duration: '1h', pendingUntil: 'x', scopes: 'clickhouse', durationMs: 1, approvalsRequired: 1 }), 'request.created without scopes'],
    ['a review without a decision', '{"type":"request.reviewed","at":"x","id":"r-1","reviewer":"bob","decision":"maybe"}', 'request.reviewed without a decision'],
    ['a certificate without its serial', '{"type":"certificate.issued","at":"x","id":"r-1","notAfter":"x","identity":"a"}', 'certificate.issued without serial'],
    ['an unknown type', '{"type":"request.teleported","at":"x"}', 'unknown type "request.teleported"'],
  ])('refuses %s with store_corrupt naming the file and line, never a TypeError', async (_label, line, reason) => {
    // Given a log whose second line is valid JSON but not an event
    const dir = tempDir({ 'events.jsonl': `${good}\n${line}\n${good}\n` });
    // When it is opened, Then the error is the store's own (exit 5), with the file and line 2
    const error = await openLog(dir).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'store_corrupt', exitCode: 5 });
    expect((error as Error).message).toContain(`${path.join(dir, 'events.jsonl')} is corrupt: line 2 is not a broker event: ${reason}`);
  });

  it('counts lines across refreshes and its own writes, so the number is the line in the file', async () => {
    // Given an open log that has read two lines (one blank) and written one
    const dir = tempDir({ 'events.jsonl': `${good}\n\n` });
    const { log } = await openLog(dir);
    await log.transact(() => ({ events: [event('b')], result: null }));
    // When another process appends a good event and then a bad one (lines 4 and 5)
    appendFileSync(path.join(dir, 'events.jsonl'), `${good}\n{"type":"request.revoked","id":"r-1"}\n`);
    // Then the next refresh names line 5
    await expect(log.refresh()).rejects.toMatchObject({ code: 'store_corrupt', message: expect.stringContaining('line 5 is not a broker event: request.revoked without at, by') });
  });

  it('names the line of unreadable JSON too', async () => {
    const dir = tempDir({ 'events.jsonl': `${good}\n${good}\nnot json\n${good}\n` });
    await expect(openLog(dir)).rejects.toMatchObject({ code: 'store_corrupt', message: expect.stringContaining('line 3 is not JSON') });
  });
});

describe('a corrupt log seen through the broker', () => {
  it('fails opening with store_corrupt, not a TypeError later', async () => {
    // Given a log with a request.created that lacks its fields (valid JSON)
    const stateDir = tempDir({ 'broker/events.jsonl': '{"type":"request.created","id":"r-0000000001"}\n' });
    // When the broker opens it, Then the store says what and where
    await expect(openRealBroker(stateDir)).rejects.toMatchObject({ code: 'store_corrupt', exitCode: 5, message: expect.stringContaining('line 1 is not a broker event') });
  });

  it('answers 502 store_corrupt over HTTP when another process appended a non-event, never 500 internal', async () => {
    // Given a served broker, and a line that is valid JSON but no event appended behind its back
    const served = await serveRealBroker();
    appendFileSync(path.join(served.stateDir, 'broker', 'events.jsonl'), '[]\n');
    // When a client lists requests
    const response = await served.raw('/v1/requests', { token: served.tokens.alice });
    // Then the error is the store's, naming the line (two tokens were created before it: line 3)
    expect(response.status).toBe(502);
    const { error } = (await response.json()) as { error: { code: string; message: string; kind: string } };
    expect(error).toMatchObject({ code: 'store_corrupt', kind: 'remote' });
    expect(error.message).toContain('events.jsonl is corrupt: line 3 is not a broker event: expected an object, got an array');
  });
});

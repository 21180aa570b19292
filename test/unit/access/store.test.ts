import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EventLog, type BrokerEvent } from '../../../src/access/store.js';
import { tempDir } from '../../fakes/fs.js';

const event = (id: string): BrokerEvent => ({ type: 'request.revoked', at: '2026-11-21T10:00:00.000Z', id, by: 'x' });

async function openLog(dir: string) {
  const seen: BrokerEvent[] = [];
  const warnings: string[] = [];
  const log = await EventLog.open(dir, (e) => seen.push(e), { warn: (m) => warnings.push(m) });
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

  it('takes over a lock left by a dead process, and waits for a live one', async () => {
    const dir = tempDir();
    const { log, warnings } = await openLog(dir);
    writeFileSync(path.join(dir, 'events.lock'), '999999999\n');
    await log.transact(() => ({ events: [event('a')], result: null }));
    expect(warnings.join()).toContain('stale lock');
    // a lock held by a live process (this one) makes a writer give up after its timeout
    writeFileSync(path.join(dir, 'events.lock'), `${process.pid}\n`);
    const impatient = await EventLog.open(dir, () => undefined, { warn: () => undefined, lockTimeoutMs: 30 });
    await expect(impatient.transact(() => ({ events: [event('b')], result: null }))).rejects.toMatchObject({ code: 'store_locked' });
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

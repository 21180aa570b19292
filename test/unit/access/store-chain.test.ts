import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GENESIS, recordHash, verifyChain } from '../../../src/access/chain.js';
import { processLockOwner } from '../../../src/access/open.js';
import { EventLog, readLogRecords, type BrokerEvent, type StoreOptions } from '../../../src/access/store.js';
import { tempDir } from '../../fakes/fs.js';

const event = (id: string, by = 'bob@vendor.example'): BrokerEvent => ({ type: 'request.revoked', at: '2026-11-30T12:00:00.000Z', id, by });
const ids = (events: BrokerEvent[]) => events.map((e) => (e as { id: string }).id);

async function openLog(dir: string, options: Partial<StoreOptions> = {}) {
  const seen: BrokerEvent[] = [];
  const log = await EventLog.open(dir, (e) => seen.push(e), { warn: () => undefined, owner: processLockOwner(), ...options });
  return { log, seen };
}

const lines = (dir: string) => readFileSync(path.join(dir, 'events.jsonl'), 'utf8').trim().split('\n');
const records = (dir: string) => readLogRecords(dir);

describe('the event log as a hash chain', () => {
  it('Given batches and group commits, When appended, Then every line names the hash of the line before it', async () => {
    // Given a log written by single transactions and by a group commit (several transactions queued at once)
    const dir = tempDir();
    const { log } = await openLog(dir);
    await log.transact(() => ({ events: [event('a'), event('b')], result: null }));
    await Promise.all([log.transact(() => ({ events: [event('c')], result: null })), log.transact(() => ({ events: [event('d')], result: null }))]);
    // When the raw lines are read
    const texts = lines(dir);
    // Then the first names GENESIS and each later one the SHA-256 of the text before it
    expect(texts).toHaveLength(4);
    expect(JSON.parse(texts[0]!).prev).toBe(GENESIS);
    for (let i = 1; i < texts.length; i++) expect(JSON.parse(texts[i]!).prev).toBe(recordHash(texts[i - 1]!));
    expect(await verifyChain(records(dir))).toEqual({ intact: true, events: 4, unchained: 0, head: recordHash(texts[3]!) });
  });

  it('Given a served (held) log reopened by an embedded writer, When both append, Then the chain continues across them', async () => {
    // Given a log held as `broker serve` holds it, with two events, then closed
    const dir = tempDir();
    const held = await openLog(dir, { hold: true });
    await held.log.transact(() => ({ events: [event('a'), event('b')], result: null }));
    await held.log.close();
    // When an embedded writer opens it and appends
    const embedded = await openLog(dir);
    await embedded.log.transact(() => ({ events: [event('c')], result: null }));
    // Then the chain is whole and apply never saw a link
    expect(await verifyChain(records(dir))).toMatchObject({ intact: true, events: 3 });
    expect(embedded.seen.every((e) => !('prev' in e))).toBe(true);
    expect(ids(embedded.seen)).toEqual(['a', 'b', 'c']);
  });

  it('Given a legacy (unchained) log, When a writer appends, Then the first chained line names the hash of the last legacy line', async () => {
    // Given a log written before the chain existed
    const legacy = [JSON.stringify(event('a')), JSON.stringify(event('b'))];
    const dir = tempDir({ 'events.jsonl': `${legacy.join('\n')}\n` });
    // When it is opened (replayed as before) and appended to
    const { log, seen } = await openLog(dir);
    expect(ids(seen)).toEqual(['a', 'b']);
    await log.transact(() => ({ events: [event('c')], result: null }));
    // Then the new line links to the legacy prefix, which verify counts as such
    expect(JSON.parse(lines(dir)[2]!).prev).toBe(recordHash(legacy[1]!));
    expect(await verifyChain(records(dir))).toMatchObject({ intact: true, events: 3, unchained: 2 });
    // And a second writer replaying it sees the events without their links
    const again = await openLog(dir);
    expect(again.seen).toEqual([event('a'), event('b'), event('c')]);
  });

  it('Given two writers on one folder appending in turns, When verified, Then they formed one chain (each caught up with the head)', async () => {
    // Given two handles on the folder (two byoc processes, each with its own memory)
    const dir = tempDir();
    const one = await openLog(dir);
    const two = await openLog(dir);
    // When they append alternately
    for (let i = 0; i < 6; i++) await (i % 2 === 0 ? one : two).log.transact(() => ({ events: [event(`e${i}`)], result: null }));
    // Then one unbroken chain holds all six
    expect(await verifyChain(records(dir))).toMatchObject({ intact: true, events: 6, unchained: 0 });
  });

  it('Given another OS process appending alternately with this one, When verified, Then the log is one chain', async () => {
    // Given a child node process that appends through the built store (dist) when told to
    const dir = tempDir();
    const store = fileURLToPath(new URL('../../../dist/src/access/store.js', import.meta.url));
    const script = `
      const { EventLog } = await import(${JSON.stringify(store)});
      const log = await EventLog.open(process.argv[1], () => {}, { warn: () => {}, owner: { pid: process.pid, host: 'h' } });
      let n = 0;
      process.stdin.on('data', async () => {
        await log.transact(() => ({ events: [{ type: 'request.revoked', at: '2026-11-30T12:00:00.000Z', id: 'child' + n++, by: 'x' }], result: null }));
        process.stdout.write('ok\\n');
      });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
    const acks: (() => void)[] = [];
    child.stdout.on('data', (chunk: Buffer) => { for (let i = 0; i < chunk.toString().split('\n').length - 1; i++) acks.shift()?.(); });
    const childAppends = () => new Promise<void>((resolve) => { acks.push(resolve); child.stdin.write('go\n'); });
    try {
      const { log } = await openLog(dir);
      // When this process and the child append in turns
      for (let i = 0; i < 4; i++) {
        await log.transact(() => ({ events: [event(`parent${i}`)], result: null }));
        await childAppends();
      }
      // Then the eight lines form one chain, in the order they were appended
      expect(await verifyChain(records(dir))).toMatchObject({ intact: true, events: 8 });
      expect(lines(dir).map((text) => (JSON.parse(text) as { id: string }).id)).toEqual(['parent0', 'child0', 'parent1', 'child1', 'parent2', 'child2', 'parent3', 'child3']);
    } finally {
      child.kill();
    }
  });

  it('Given any events in any batches, When replayed, Then the chained log gives exactly the events an unchained log of them gives', async () => {
    const anEvent = fc.record({ id: fc.string({ minLength: 1, maxLength: 8 }), by: fc.string({ maxLength: 12, unit: 'binary' }) }).map(({ id, by }) => event(id, by));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(anEvent, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }), async (batches) => {
        // Given the batches appended through the chained store, and the same events written as legacy lines
        const chainedDir = tempDir();
        const { log } = await openLog(chainedDir);
        for (const batch of batches) await log.transact(() => ({ events: batch, result: null }));
        const plainDir = tempDir({ 'events.jsonl': batches.flat().map((e) => `${JSON.stringify(e)}\n`).join('') });
        // When both are replayed
        const chained = await openLog(chainedDir);
        const plain = await openLog(plainDir);
        // Then apply sees the same events, and the chained one verifies
        expect(chained.seen).toEqual(plain.seen);
        expect(chained.seen).toEqual(batches.flat());
        expect(await verifyChain(records(chainedDir))).toMatchObject({ intact: true, events: batches.flat().length, unchained: 0 });
      }),
      { numRuns: 25 },
    );
  });

  it('Given a snapshot position on a chained log, When a writer resumes from it, Then its next line continues the chain', async () => {
    // Given a chained log and the position a snapshot would record
    const dir = tempDir();
    const first = await openLog(dir);
    await first.log.transact(() => ({ events: [event('a'), event('b')], result: null }));
    const position = first.log.position();
    // When a writer resumes from that position (not replaying) and appends
    let loaded = false;
    const resumed = await EventLog.open(dir, () => undefined, { warn: () => undefined, owner: processLockOwner() }, { position, load: () => (loaded = true) });
    expect(resumed.resumed && loaded).toBe(true);
    await resumed.transact(() => ({ events: [event('c')], result: null }));
    // Then the chain is intact
    expect(await verifyChain(records(dir))).toMatchObject({ intact: true, events: 3 });
  });

  it('Given a torn last line, When the records are read, Then it is left out and handed to the torn callback, and the next writer cuts it and chains on', async () => {
    // Given a chained log whose last write was interrupted
    const dir = tempDir();
    const { log } = await openLog(dir);
    await log.transact(() => ({ events: [event('a')], result: null }));
    appendFileSync(path.join(dir, 'events.jsonl'), '{"type":"request.revoked","at":"2026-');
    // When read
    const read = [];
    const torn: unknown[] = [];
    for await (const record of readLogRecords(dir, (record) => torn.push(record))) read.push(record);
    // Then only the whole line is a record, and the tail is reported as torn
    expect(read).toEqual([{ where: 'line 1', text: lines(dir)[0] }]);
    expect(torn).toEqual([{ where: 'line 2', text: '{"type":"request.revoked","at":"2026-' }]);
    // And the store's records() (what migration copies) is the whole lines only
    const viaStore = [];
    for await (const record of log.records()) viaStore.push(record);
    expect(viaStore).toEqual(read);
    // And a writer cuts it and chains on from line 1
    const next = await openLog(dir);
    await next.log.transact(() => ({ events: [event('b')], result: null }));
    expect(await verifyChain(records(dir))).toMatchObject({ intact: true, events: 2 });
  });

  it('Given a line whose prev was changed by hand, When replayed, Then the broker still opens (the chain is verify\'s to check) and apply sees no prev', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir);
    await log.transact(() => ({ events: [event('a'), event('b')], result: null }));
    const texts = lines(dir);
    writeFileSync(path.join(dir, 'events.jsonl'), `${texts[0]}\n${texts[1]!.replace(/"prev":"[0-9a-f]+"/, `"prev":"${'f'.repeat(64)}"`)}\n`);
    const again = await openLog(dir);
    expect(again.seen).toEqual([event('a'), event('b')]);
  });
});

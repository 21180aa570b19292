import { describe, expect, it } from 'vitest';
import { chainedText, GENESIS, recordHash, unchained, verifyChain } from '../../../src/access/chain.js';
import type { BrokerEvent } from '../../../src/access/store.js';

const event = (id: string): BrokerEvent => ({ type: 'request.revoked', at: '2026-11-30T12:00:00.000Z', id, by: 'bob@vendor.example' });

function chain(ids: string[], start = GENESIS): string[] {
  const texts: string[] = [];
  let prev = start;
  for (const id of ids) {
    const text = chainedText(event(id), prev);
    texts.push(text);
    prev = recordHash(text);
  }
  return texts;
}
const records = (texts: string[]) => texts.map((text, index) => ({ where: `line ${index + 1}`, text }));

describe('the event hash chain', () => {
  it('Given an untouched chain, When verified, Then it is intact and names the hash of its last record', async () => {
    const texts = chain(['r-1', 'r-2', 'r-3']);
    expect(await verifyChain(records(texts))).toEqual({ intact: true, events: 3, unchained: 0, head: recordHash(texts[2]!) });
  });

  it('Given one changed byte in a record, When verified, Then the link after it is reported', async () => {
    const texts = chain(['r-1', 'r-2', 'r-3']);
    texts[1] = texts[1]!.replace('bob@', 'eve@');
    const report = await verifyChain(records(texts));
    expect(report).toMatchObject({ intact: false, brokenAt: 'line 3', found: JSON.parse(chain(['r-1', 'r-2', 'r-3'])[2]!).prev });
  });

  it('Given a removed record or two swapped, When verified, Then the first broken link is reported', async () => {
    const texts = chain(['r-1', 'r-2', 'r-3']);
    expect(await verifyChain(records([texts[0]!, texts[2]!]))).toMatchObject({ intact: false, brokenAt: 'line 2' });
    expect(await verifyChain(records([texts[1]!, texts[0]!, texts[2]!]))).toMatchObject({ intact: false, brokenAt: 'line 1', expected: GENESIS });
  });

  it('Given records written before chaining, When verified, Then they count as an unchained prefix the chain continues from', async () => {
    const legacy = [JSON.stringify(event('r-0'))];
    const texts = [...legacy, ...chain(['r-1', 'r-2'], recordHash(legacy[0]!))];
    expect(await verifyChain(records(texts))).toMatchObject({ intact: true, events: 3, unchained: 1 });
    // and an unchained record after chained ones is a break, not legacy
    expect(await verifyChain(records([...texts, JSON.stringify(event('r-9'))]))).toMatchObject({ intact: false, brokenAt: 'line 4' });
  });

  it('Given a stored text, When read back, Then the event comes without its link', () => {
    expect(unchained(JSON.parse(chainedText(event('r-1'), GENESIS)) as Record<string, unknown>)).toEqual(event('r-1'));
  });
});

/**
 * The broker's events as a hash chain, the same in every store (the JSONL log, PostgreSQL): an event is stored as
 * the exact text `JSON.stringify({ ...event, prev })`, where `prev` is the SHA-256 (hex) of the text stored before
 * it (GENESIS for the first). Changing, removing or reordering any stored event breaks the link after it; what the
 * chain cannot show by itself is a cut at its very end, which is why `byoc broker verify` prints the head's hash
 * for keeping elsewhere.
 */
import { createHash } from 'node:crypto';
import type { BrokerEvent } from './store.js';

/** `prev` of the first event of a store. */
export const GENESIS = '0'.repeat(64);

/** The text stored for `event` following the text whose hash is `prev`. */
export function chainedText(event: BrokerEvent, prev: string): string {
  return JSON.stringify({ ...event, prev });
}

/** The hash the next event names as its `prev`. */
export function recordHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** One stored event as verify reads it: where it is (a line number, a row's sequence number) and its exact text. */
export interface StoredRecord {
  where: string;
  text: string;
}

export type ChainReport =
  | { intact: true; events: number; unchained: number; head: string }
  | { intact: false; events: number; unchained: number; brokenAt: string; expected: string; found: string | undefined; problem: string };

/**
 * Walks the records in store order and reports the first broken link. Records written before the store was chained
 * (no `prev`) are allowed only as a prefix: they are counted, and the first chained record must name the hash of the
 * last of them (GENESIS when there are none).
 */
export async function verifyChain(records: AsyncIterable<StoredRecord> | Iterable<StoredRecord>): Promise<ChainReport> {
  let expected = GENESIS;
  let events = 0;
  let unchained = 0;
  let chained = false;
  for await (const { where, text } of records) {
    events++;
    let prev: unknown;
    try {
      prev = (JSON.parse(text) as { prev?: unknown }).prev;
    } catch {
      return { intact: false, events, unchained, brokenAt: where, expected, found: undefined, problem: 'is not JSON' };
    }
    if (prev === undefined && !chained) {
      unchained++;
      expected = recordHash(text);
      continue;
    }
    chained = true;
    if (prev !== expected) {
      return {
        intact: false,
        events,
        unchained,
        brokenAt: where,
        expected,
        found: typeof prev === 'string' ? prev : undefined,
        problem: prev === undefined ? 'has no prev: a record without a link after chained ones' : 'names another record as the one before it: a record before it was changed, removed or inserted',
      };
    }
    expected = recordHash(text);
  }
  return { intact: true, events, unchained, head: expected };
}

/** The event a stored text holds, without its link. */
export function unchained(value: Record<string, unknown>): Record<string, unknown> {
  if (!('prev' in value)) return value;
  const { prev: _prev, ...event } = value;
  return event;
}

/**
 * The lean standing check a query makes on the embedded broker: whether the request a stored certificate was
 * issued for is still approved, answered from the snapshot and the log after it without opening the broker
 * (broker.js, the store lock, policy, the operators and their sweep: ~11 ms of module loading and checks on every
 * query, for a read that writes nothing).
 *
 * Why skipping the broker is safe for this one answer: it only ever lets a query go ahead that the broker would
 * let go ahead too (the same records, folded by the same code, records.ts), and the server refuses an expired or
 * revoked grant by itself (nginx checks the CRL and the certificate's end; each grant is its own ClickHouse
 * user). The expiry sweep still runs on every broker write and on `sandbox up`. Whatever this module cannot
 * answer exactly as the broker would (no log, a snapshot it may not trust, a torn or damaged line, a log past
 * the snapshot by more than the broker lets it grow, a request it does not find) is left to the broker, which
 * then also writes the snapshot and says the refusal in its own words.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { applyTo, eventProblem, isRequestEvent, type RequestRecord } from './records.js';
import { readSnapshot } from './snapshot.js';
import type { BrokerEvent } from './store.js';

/** The broker's event log in its folder (store.ts names it the same). */
const LOG_FILE = 'events.jsonl';
/** Past this much log after the snapshot (or without one), the broker is asked: it then writes a new snapshot. */
const LEAN_TAIL_BYTES = 64 * 1024;

/**
 * The record of request `id` as the embedded broker in `dir` (`<state>/broker`) would have it at `now` (ms), or
 * undefined when only the broker itself can say (see above).
 */
export async function leanRecord(dir: string, id: string, now: number): Promise<RequestRecord | undefined> {
  const found = await readSnapshot(dir);
  // A snapshot from a later time than now (a clock set back) is not trusted by the broker either.
  const snapshot = found && Date.parse(found.snapshot.asOf) <= now ? found.snapshot : undefined;
  const position = snapshot?.position ?? { offset: 0, lines: 0, lastLineLength: 0, lastLineHash: '' };
  let handle;
  try {
    handle = await open(path.join(dir, LOG_FILE), 'r');
  } catch {
    return undefined;
  }
  let buffer: Buffer;
  try {
    const { size } = await handle.stat();
    const from = position.offset - position.lastLineLength;
    if (from < 0 || size < position.offset || size - position.offset > LEAN_TAIL_BYTES) return undefined;
    buffer = Buffer.alloc(size - from);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
    if (bytesRead !== buffer.length) return undefined;
  } finally {
    await handle.close();
  }
  // The snapshot is about this log only while the log still holds its last line where it was (EventLog.holds).
  if (position.offset > 0) {
    const line = buffer.subarray(0, position.lastLineLength);
    if (line.length === 0 || line[line.length - 1] !== 0x0a || createHash('sha256').update(line).digest('hex') !== position.lastLineHash) return undefined;
  }
  const tail = buffer.subarray(position.lastLineLength);
  // A torn last line: the broker warns about it on opening; let it.
  if (tail.length > 0 && tail[tail.length - 1] !== 0x0a) return undefined;
  const records = new Map<string, RequestRecord>();
  const kept = snapshot?.state.requests.find((record) => record.created.id === id);
  if (kept) records.set(id, kept);
  // Every line after the snapshot is checked as the broker's replay checks it: a damaged one is the broker's to report.
  for (const line of tail.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return undefined;
    }
    if (eventProblem(value)) return undefined;
    const event = value as BrokerEvent;
    if (!isRequestEvent(event) || event.id !== id) continue;
    // A decision on a request the snapshot put away as finished: the broker replays the whole log for it.
    if (event.type !== 'request.created' && !records.has(id)) return undefined;
    applyTo(records, event);
  }
  return records.get(id);
}

/**
 * The broker's snapshot: a cache beside the event log so that a command which checks one request does not replay
 * a year of log. The log stays the only source of truth (the only file fsync'd before a decision is acknowledged);
 * the snapshot is written after, atomically (temp file 0600, then rename), and trusted only while the log still
 * holds the last line it covers (EventLog.open checks that line's length and SHA-256 at the recorded offset). A
 * snapshot that is missing, unreadable, of another version or about another log is ignored; the log is replayed
 * in full and a new snapshot written.
 *
 * What it holds, and why (the design this module exists for): every command needs the "live" state, which stays
 * small however long the broker runs: requests still pending or approved, revoked ones whose certificates a CRL
 * still lists, every token, and the count of revocations the CRL's number is derived from. The sweep needs only
 * approved requests. Finished requests (denied, expired, revoked and off the CRL) are the bulk of a long log and
 * are needed only by `access list` of old ones or `access get` of an old id: they stay out of the snapshot (only
 * their number is kept), and are read from the log when asked for (one request by scanning the log for lines
 * naming its id, without parsing the others; a list by replaying it). A finished request never changes again: no
 * review, revocation or certificate is accepted for it at the snapshot's time or later, and a snapshot taken at a
 * later time than the reader's clock is not used.
 */
import path from 'node:path';
import { writePrivateFile } from '../util/secure-fs.js';
import type { RequestRecord, TokenRecord } from './records.js';
import type { LogPosition } from './store.js';
import { readSmallFile } from '../util/read.js';

/**
 * Bumped whenever what a snapshot holds changes meaning: a snapshot of another version is rebuilt. 2: tokens are
 * records (id, groups, expiry, revocation) rather than hash -> identity pairs.
 */
export const SNAPSHOT_VERSION = 2;

const SNAPSHOT_FILE = 'events.snapshot.json';

export interface BrokerSnapshot {
  version: typeof SNAPSHOT_VERSION;
  /** the time the live requests were told from the finished ones */
  asOf: string;
  position: LogPosition;
  state: {
    /** the live requests */
    requests: RequestRecord[];
    /** every token, revoked and expired ones included (a handful per person: `token list` shows them all) */
    tokens: TokenRecord[];
    /** requests with a revocation, finished ones included */
    revocations: number;
    /** every request, finished ones included */
    total: number;
  };
}

/** The snapshot in `dir` and its size, or undefined when there is none usable (missing, unreadable, another version). */
export async function readSnapshot(dir: string): Promise<{ snapshot: BrokerSnapshot; bytes: number } | undefined> {
  let value: unknown;
  let text: string;
  try {
    text = await readSmallFile(path.join(dir, SNAPSHOT_FILE));
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isSnapshot(value) ? { snapshot: value, bytes: Buffer.byteLength(text) } : undefined;
}

/** Replaces the snapshot in `dir` with `text` (a serialised BrokerSnapshot) in one rename; a reader sees one or the other. */
export async function writeSnapshot(dir: string, text: string): Promise<void> {
  await writePrivateFile(path.join(dir, SNAPSHOT_FILE), text);
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/**
 * The shape, checked field by field where a wrong value would be used (a damaged file must be ignored, not
 * crash a command). The records themselves were written by this code from validated events; a snapshot whose
 * last covered line is still in the log is taken as written.
 */
function isSnapshot(value: unknown): value is BrokerSnapshot {
  if (typeof value !== 'object' || value === null) return false;
  const snapshot = value as Partial<Record<keyof BrokerSnapshot, unknown>>;
  if (snapshot.version !== SNAPSHOT_VERSION || typeof snapshot.asOf !== 'string' || Number.isNaN(Date.parse(snapshot.asOf))) return false;
  const position = snapshot.position as Partial<Record<keyof LogPosition, unknown>> | undefined;
  if (!position || !isCount(position.offset) || !isCount(position.lines) || !isCount(position.lastLineLength) || typeof position.lastLineHash !== 'string') return false;
  const state = snapshot.state as Partial<Record<keyof BrokerSnapshot['state'], unknown>> | undefined;
  if (!state || !isCount(state.revocations) || !isCount(state.total) || !Array.isArray(state.requests) || !Array.isArray(state.tokens)) return false;
  if (state.requests.length > state.total) return false;
  const recordOk = (record: unknown) => {
    const r = record as Partial<RequestRecord> | null;
    return typeof r === 'object' && r !== null && typeof r.created?.id === 'string' && Array.isArray(r.reviews) && Array.isArray(r.certificates);
  };
  const tokenOk = (token: unknown) => {
    const t = token as Partial<TokenRecord> | null;
    return typeof t === 'object' && t !== null && typeof t.id === 'string' && typeof t.identity === 'string' && typeof t.hash === 'string' && Array.isArray(t.groups) && typeof t.createdAt === 'string';
  };
  return state.requests.every(recordOk) && state.tokens.every(tokenOk);
}

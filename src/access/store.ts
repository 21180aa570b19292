import { open, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RemoteError } from '../errors.js';
import { ensurePrivateDir } from '../util/secure-fs.js';
import { FileLock, type LockOptions } from './store-lock.js';
import type { AccessRequest } from './types.js';

export type BrokerEvent =
  | ({ type: 'request.created'; at: string } & Pick<AccessRequest, 'id' | 'service' | 'scopes' | 'requester' | 'reason' | 'ticket' | 'duration' | 'durationMs' | 'approvalsRequired' | 'pendingUntil'>)
  | { type: 'request.reviewed'; at: string; id: string; reviewer: string; decision: 'approve' | 'deny'; comment?: string }
  | { type: 'request.revoked'; at: string; id: string; by: string; comment?: string }
  | { type: 'certificate.issued'; at: string; id: string; serial: string; notAfter: string; identity: string }
  | { type: 'token.created'; at: string; user: string; tokenHash: string };

interface Transaction {
  decide: () => { events: BrokerEvent[]; result: unknown };
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export type { LockOptions, LockOwner } from './store-lock.js';
export type StoreOptions = LockOptions;

const LOG_FILE = 'events.jsonl';
const LOCK_FILE = 'events.lock';

/**
 * The broker's append-only event log: one JSON line per decision, fsync'd before the decision is
 * acknowledged. State is rebuilt from it; it is also the broker's own audit trail. Writers take a lock
 * file, catch up with what other processes appended, then append: so two processes deciding on the same
 * request never both win, and a crash mid-write can only tear the last line, which is dropped.
 */
export class EventLog {
  private offset = 0;
  /** complete lines read so far, so an error names the line's number in the file */
  private lines = 0;
  private readonly file: string;
  private readonly lock: FileLock;
  private pending: Transaction[] = [];
  private flushing = false;
  private broken: Error | undefined;

  private constructor(
    readonly dir: string,
    private readonly apply: (event: BrokerEvent) => void,
    private readonly options: StoreOptions,
  ) {
    this.file = path.join(dir, LOG_FILE);
    this.lock = new FileLock(path.join(dir, LOCK_FILE), options);
  }

  /** Opens (creating) the log and replays every complete event into `apply`. */
  static async open(dir: string, apply: (event: BrokerEvent) => void, options: StoreOptions): Promise<EventLog> {
    await ensurePrivateDir(dir);
    const log = new EventLog(dir, apply, options);
    await log.catchUp(true);
    return log;
  }

  /** Reads events other processes appended since the last read. */
  async refresh(): Promise<void> {
    await this.catchUp(false);
  }

  /**
   * Runs `decide` with the writer lock held and the state current, then appends the events it returns.
   * Transactions queued while a write is in flight are committed together (one lock, one write, one fsync),
   * each deciding on the state the ones before it produced; none is acknowledged before the fsync.
   */
  transact<T>(decide: () => { events: BrokerEvent[]; result: T }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ decide, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        await this.commit(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async commit(batch: Transaction[]): Promise<void> {
    if (this.broken) {
      for (const transaction of batch) transaction.reject(this.broken);
      return;
    }
    const settled: (() => void)[] = [];
    let release: (() => Promise<void>) | undefined;
    try {
      release = await this.lock.acquire();
      await this.catchUp(false, true);
      const decided: { transaction: Transaction; result: unknown }[] = [];
      const lines: string[] = [];
      for (const transaction of batch) {
        try {
          const { events, result } = transaction.decide();
          for (const event of events) {
            this.apply(event);
            lines.push(`${JSON.stringify(event)}\n`);
          }
          decided.push({ transaction, result });
        } catch (error) {
          settled.push(() => transaction.reject(error));
        }
      }
      try {
        if (lines.length > 0) await this.append(lines.join(''));
      } catch (error) {
        // Memory already holds decisions the disk may not: refuse everything until a restart replays the log.
        this.broken = new RemoteError('store_write_failed', `the broker could not write its event log: ${(error as Error).message}`, {
          hint: 'Fix the disk problem and restart; every acknowledged decision is safe on disk.',
          cause: error,
        });
        throw this.broken;
      }
      for (const { transaction, result } of decided) settled.push(() => transaction.resolve(result));
    } catch (error) {
      settled.length = 0;
      for (const transaction of batch) settled.push(() => transaction.reject(error));
    } finally {
      await release?.();
    }
    // Answer only once the lock is released, so a caller acting on the answer never meets our own lock.
    for (const settle of settled) settle();
  }

  private async append(text: string): Promise<void> {
    const handle = await open(this.file, 'a', 0o600);
    try {
      await handle.write(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.offset += Buffer.byteLength(text);
    // one event per line: JSON.stringify never writes a raw newline
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) this.lines++;
  }

  private corrupt(line: number, what: string): RemoteError {
    return new RemoteError('store_corrupt', `the event log ${this.file} is corrupt: line ${line} ${what}`, {
      hint: `byoc only appends whole lines and only the last one can be torn by a crash; restore ${this.file} from backup (or move it aside to start an empty broker).`,
    });
  }

  private async catchUp(initial: boolean, locked = false): Promise<void> {
    let size: number;
    try {
      size = (await stat(this.file)).size;
    } catch {
      return;
    }
    if (size < this.offset) {
      throw new RemoteError('store_truncated', `the event log ${this.file} shrank while byoc was reading it`, {
        hint: 'Another program changed the broker store; restore it from backup. byoc only ever appends to it.',
      });
    }
    if (size === this.offset) return;
    const handle = await open(this.file, 'r');
    let buffer: Buffer;
    try {
      buffer = Buffer.alloc(size - this.offset);
      await handle.read(buffer, 0, buffer.length, this.offset);
    } finally {
      await handle.close();
    }
    const lastNewline = buffer.lastIndexOf(0x0a);
    const complete = lastNewline + 1;
    let lineStart = 0;
    let lineNumber = this.lines;
    while (lineStart < complete) {
      const end = buffer.indexOf(0x0a, lineStart);
      lineNumber++;
      const line = buffer.toString('utf8', lineStart, end);
      lineStart = end + 1;
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw this.corrupt(lineNumber, 'is not JSON');
      }
      const problem = eventProblem(value);
      if (problem) throw this.corrupt(lineNumber, `is not a broker event: ${problem}`);
      this.apply(value as BrokerEvent);
    }
    this.lines = lineNumber;
    this.offset += complete;
    if (complete < buffer.length) {
      // A tail without its newline was never acknowledged: the writer died mid-write (or, without the
      // lock, is still writing). Under the lock nobody else writes, so it is safe to cut it off.
      if (initial || locked) this.options.warn(`ignoring a torn last line in ${this.file} (${buffer.length - complete} bytes, left by an interrupted write)`);
      if (locked) await truncateTo(this.file, this.offset);
    }
  }
}

/**
 * Runs `fn` holding the broker store's writer lock (the one the event log takes), for work that must happen
 * once across processes, such as creating the CA. Not reentrant: never call it from inside a transaction.
 */
export async function withStoreLock<T>(dir: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  await ensurePrivateDir(dir);
  const release = await new FileLock(path.join(dir, LOCK_FILE), options).acquire();
  try {
    return await fn();
  } finally {
    await release();
  }
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isOptionalString = (value: unknown) => value === undefined || typeof value === 'string';
const isCount = (value: unknown) => Number.isInteger(value) && (value as number) >= 0;

/** The text fields each event type must carry. */
const REQUIRED_TEXT: Record<BrokerEvent['type'], readonly string[]> = {
  'request.created': ['at', 'id', 'service', 'requester', 'reason', 'duration', 'pendingUntil'],
  'request.reviewed': ['at', 'id', 'reviewer'],
  'request.revoked': ['at', 'id', 'by'],
  'certificate.issued': ['at', 'id', 'serial', 'notAfter', 'identity'],
  'token.created': ['at', 'user', 'tokenHash'],
};

/**
 * Why a parsed line is not a broker event, or undefined when it is one. Hand-written rather than a schema
 * library: replay checks every event on each start (100k events within the restart budget), and these typeof
 * tests, which allocate nothing for a good event, cost next to nothing beside JSON.parse.
 */
function eventProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `expected an object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`;
  const event = value as Record<string, unknown>;
  const type = event.type;
  if (type === undefined) return 'no type';
  const required = typeof type === 'string' && Object.hasOwn(REQUIRED_TEXT, type) ? REQUIRED_TEXT[type as BrokerEvent['type']] : undefined;
  if (!required) return `unknown type ${JSON.stringify(type)}`;
  for (const field of required) {
    if (!isString(event[field])) return `${type} without ${required.filter((name) => !isString(event[name])).join(', ')}`;
  }
  switch (type) {
    case 'request.created':
      if (!Array.isArray(event.scopes) || !event.scopes.every(isString)) return 'request.created without scopes';
      if (!isCount(event.durationMs)) return 'request.created without durationMs';
      if (!isCount(event.approvalsRequired) || (event.approvalsRequired as number) < 1) return 'request.created without approvalsRequired';
      if (!isOptionalString(event.ticket)) return 'request.created with a ticket that is not text';
      return undefined;
    case 'request.reviewed':
      if (event.decision !== 'approve' && event.decision !== 'deny') return 'request.reviewed without a decision (approve or deny)';
      return isOptionalString(event.comment) ? undefined : 'request.reviewed with a comment that is not text';
    case 'request.revoked':
      return isOptionalString(event.comment) ? undefined : 'request.revoked with a comment that is not text';
    default:
      return undefined;
  }
}

async function truncateTo(file: string, length: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * For benchmarks: write a prepared log in one go.
 * @public (bench/broker.js loads it from dist/, where a dead-code finder does not look)
 */
export async function writeEventLog(dir: string, events: BrokerEvent[]): Promise<void> {
  await ensurePrivateDir(dir);
  await writeFile(path.join(dir, LOG_FILE), events.map((event) => `${JSON.stringify(event)}\n`).join(''), { mode: 0o600 });
}

import { open, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { RemoteError } from '../errors.js';
import { ensurePrivateDir } from '../util/secure-fs.js';
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

export interface StoreOptions {
  warn: (message: string) => void;
  /** how long to wait for another writer's lock before giving up */
  lockTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

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
  private readonly file: string;
  private readonly lockFile: string;
  private pending: Transaction[] = [];
  private flushing = false;
  private broken: Error | undefined;

  private constructor(
    readonly dir: string,
    private readonly apply: (event: BrokerEvent) => void,
    private readonly options: StoreOptions,
  ) {
    this.file = path.join(dir, LOG_FILE);
    this.lockFile = path.join(dir, LOCK_FILE);
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
      release = await this.lock();
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
    let lineNumber = 0;
    while (lineStart < complete) {
      const end = buffer.indexOf(0x0a, lineStart);
      lineNumber++;
      const line = buffer.toString('utf8', lineStart, end);
      lineStart = end + 1;
      if (line.trim() === '') continue;
      let event: BrokerEvent;
      try {
        event = JSON.parse(line) as BrokerEvent;
      } catch {
        throw new RemoteError('store_corrupt', `the event log ${this.file} has an unreadable line in its middle`, {
          hint: 'Only the last line can be torn by a crash; restore the file from backup.',
        });
      }
      this.apply(event);
    }
    this.offset += complete;
    if (complete < buffer.length) {
      // A tail without its newline was never acknowledged: the writer died mid-write (or, without the
      // lock, is still writing). Under the lock nobody else writes, so it is safe to cut it off.
      if (initial || locked) this.options.warn(`ignoring a torn last line in ${this.file} (${buffer.length - complete} bytes, left by an interrupted write)`);
      if (locked) await truncateTo(this.file, this.offset);
    }
  }

  private async lock(): Promise<() => Promise<void>> {
    const timeout = this.options.lockTimeoutMs ?? 10_000;
    const sleep = this.options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      let handle: FileHandle | undefined;
      try {
        handle = await open(this.lockFile, 'wx', 0o600);
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        return () => rm(this.lockFile, { force: true });
      } catch (error) {
        await handle?.close();
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      if (await this.lockIsStale()) {
        this.options.warn(`removing a stale lock ${this.lockFile} left by a process that is gone`);
        await rm(this.lockFile, { force: true });
        continue;
      }
      if (waited >= timeout) {
        throw new RemoteError('store_locked', `the broker store ${this.dir} is locked by another byoc process`, {
          hint: `If no byoc is running, remove ${this.lockFile}.`,
        });
      }
      const pause = Math.min(50, 2 + attempt * 2);
      await sleep(pause);
      waited += pause;
    }
  }

  private async lockIsStale(): Promise<boolean> {
    try {
      const pid = Number((await readFile(this.lockFile, 'utf8')).trim());
      if (!Number.isInteger(pid) || pid <= 0) return false;
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
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

/** For tests and benchmarks: write a prepared log in one go. */
export async function writeEventLog(dir: string, events: BrokerEvent[]): Promise<void> {
  await ensurePrivateDir(dir);
  await writeFile(path.join(dir, LOG_FILE), events.map((event) => `${JSON.stringify(event)}\n`).join(''), { mode: 0o600 });
}

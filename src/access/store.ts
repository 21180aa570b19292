import { open, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { RemoteError } from '../errors.js';
import { ensurePrivateDir } from '../util/secure-fs.js';
import type { Scope } from './types.js';

export type BrokerEvent =
  | {
      type: 'request.created';
      at: string;
      id: string;
      service: string;
      scopes: Scope[];
      requester: string;
      reason: string;
      ticket?: string;
      duration: string;
      durationMs: number;
      approvalsRequired: number;
      pendingUntil: string;
    }
  | { type: 'request.reviewed'; at: string; id: string; reviewer: string; decision: 'approve' | 'deny'; comment?: string }
  | { type: 'request.revoked'; at: string; id: string; by: string; comment?: string }
  | { type: 'certificate.issued'; at: string; id: string; serial: string; notAfter: string; identity: string }
  | { type: 'token.created'; at: string; user: string; tokenHash: string };

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
  private queue: Promise<unknown> = Promise.resolve();

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
   * Calls from this process are queued so they never interleave.
   */
  transact<T>(decide: () => { events: BrokerEvent[]; result: T }): Promise<T> {
    const run = this.queue.then(async () => {
      const release = await this.lock();
      try {
        await this.catchUp(false, true);
        const { events, result } = decide();
        if (events.length > 0) await this.append(events);
        return result;
      } finally {
        await release();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async append(events: BrokerEvent[]): Promise<void> {
    const text = events.map((event) => `${JSON.stringify(event)}\n`).join('');
    const handle = await open(this.file, 'a', 0o600);
    try {
      await handle.write(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.offset += Buffer.byteLength(text);
    for (const event of events) this.apply(event);
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

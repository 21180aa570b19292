import { createHash } from 'node:crypto';
import { fdatasync, watch, writeSync, type FSWatcher } from 'node:fs';
import { open, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, RemoteError } from '../errors.js';
import { ensurePrivateDir, writePrivateFile } from '../util/secure-fs.js';
import { FileLock, type LockOptions, type ReleaseLock } from './store-lock.js';
import { eventProblem } from './records.js';
import { chainedText, GENESIS, recordHash, unchained, type StoredRecord } from './chain.js';
import type { AccessRequest } from './types.js';
import type { EventStore } from './event-store.js';
import { Turns, type Transaction } from './turns.js';

export type BrokerEvent =
  | ({ type: 'request.created'; at: string } & Pick<AccessRequest, 'id' | 'service' | 'scopes' | 'requester' | 'reason' | 'ticket' | 'duration' | 'durationMs' | 'approvalsRequired' | 'pendingUntil'>)
  | { type: 'request.reviewed'; at: string; id: string; reviewer: string; decision: 'approve' | 'deny'; comment?: string }
  | { type: 'request.revoked'; at: string; id: string; by: string; comment?: string }
  | { type: 'certificate.issued'; at: string; id: string; serial: string; notAfter: string; identity: string }
  /**
   * `id`, `expiresAt`, `groups` and `by` came with token lifecycle (#16): a token created before has none of them,
   * never expires, has no groups, and its id is derived from its hash (tokenIdOf).
   */
  | { type: 'token.created'; at: string; user: string; tokenHash: string; id?: string; expiresAt?: string; groups?: string[]; by?: string }
  | { type: 'token.revoked'; at: string; id: string; by: string };

/** The events about requests (the others are about tokens). */
export type RequestEvent = Exclude<BrokerEvent, { type: 'token.created' | 'token.revoked' }>;


export type { LockOptions, LockOwner } from './store-lock.js';

export interface StoreOptions extends LockOptions {
  /**
   * Take the writer lock once, at open, and hold it until close(): the served broker, the store's only writer
   * while it runs. Commits then skip the lock file and the catch-up read, appending through one open file
   * (one write and one fdatasync per batch); an embedded command that would write meanwhile fails fast, naming it.
   */
  hold?: boolean;
  /**
   * How much log a reader replays past the snapshot before it writes a new one, and how big a log must be to get
   * one at all (a small log replays faster than a snapshot is written). Default 64 KiB, about 200 events.
   */
  snapshotAfterBytes?: number;
}

/**
 * Where a reader stands in the log: `offset` bytes and `lines` complete lines read, the last of them `lastLine`
 * bytes long with this SHA-256. A snapshot records it, and it is trusted only while those bytes are still there.
 */
export interface LogPosition {
  offset: number;
  lines: number;
  lastLineLength: number;
  lastLineHash: string;
}

const LOG_FILE = 'events.jsonl';
/** How long changed() lets a burst of watch events settle before it looks at the log's size. */
const GROWTH_DEBOUNCE_MS = 15;
/** How often changed() looks at the log's size anyway, in case watch events were lost (see changed()). */
const GROWTH_FALLBACK_MS = 5000;
const LOCK_FILE = 'events.lock';
/** Who holds the store for good (`byoc broker serve`), for the refusal an embedded writer gets meanwhile. */
const SERVING_FILE = 'serving.json';

/**
 * The broker's append-only event log: one JSON line per decision, fsync'd before the decision is
 * acknowledged. State is rebuilt from it (from a snapshot beside it and the log after that, see snapshot.ts); it
 * is also the broker's own audit trail. Writers take a lock file, catch up with what other processes appended,
 * then append: so two processes deciding on the same request never both win, and a crash mid-write can only tear
 * the last line, which is dropped. The served broker takes the lock once and holds it while it serves
 * (StoreOptions.hold), so its commits are a write and an fdatasync.
 */
export class EventLog implements EventStore {
  /** A long log replays slowly: the broker keeps a snapshot beside it (snapshot.ts). */
  readonly snapshots = true;
  /** Whether open() installed a snapshot's state. */
  resumed = false;
  private offset = 0;
  /** complete lines read so far, so an error names the line's number in the file */
  private lines = 0;
  /** the last complete line read or written (with its newline), which a snapshot of this position names */
  private lastLine: Buffer = Buffer.alloc(0);
  /**
   * The hash of the last event line read or written: the `prev` the next appended line names (see chain.ts). A
   * legacy line (written before the chain) counts too, so the first chained line links to the unchained prefix.
   */
  private head = GENESIS;
  /**
   * The log's size when this reader last looked (a torn tail included, which `offset` stops before): changed()
   * wakes when the file's size differs from it, so a torn tail alone never wakes a waiter over and over.
   */
  private observed = 0;
  private readonly file: string;
  private readonly lock: FileLock;
  private broken: Error | undefined;
  /** reads, commits and rewinds one at a time; transactions committed in batches (turns.ts) */
  private readonly turns = new Turns((batch) => this.commit(batch), () => this.broken);
  /** While holding the store (StoreOptions.hold): the lock's release and the one handle appends go through. */
  private held: { release: ReleaseLock; handle: FileHandle } | undefined;

  private constructor(
    readonly dir: string,
    private readonly apply: (event: BrokerEvent) => void,
    private readonly options: StoreOptions,
  ) {
    this.file = path.join(dir, LOG_FILE);
    this.lock = new FileLock(path.join(dir, LOCK_FILE), { ...options, refuse: (holder) => servedRefusal(dir, holder) });
  }

  /**
   * Opens (creating) the log and replays every complete event into `apply`. With `resume`, a position a snapshot
   * recorded, it first checks that the log still holds that position's last line; if it does, `resume.load()`
   * installs the snapshot's state and only the log after it is replayed; if not (another log, a rewritten one),
   * the whole log is. `resumed` says which happened.
   */
  static async open(
    dir: string,
    apply: (event: BrokerEvent) => void,
    options: StoreOptions,
    resume?: { position: LogPosition; load: () => void },
  ): Promise<EventLog> {
    await ensurePrivateDir(dir);
    const log = new EventLog(dir, apply, options);
    if (options.hold) {
      const release = await log.lock.acquire();
      try {
        await writePrivateJson(path.join(dir, SERVING_FILE), { pid: options.owner.pid, host: options.owner.host });
        log.held = { release, handle: await open(log.file, 'a', 0o600) };
      } catch (error) {
        await release();
        throw error;
      }
    }
    try {
      if (resume && (await log.holds(resume.position))) {
        log.offset = resume.position.offset;
        log.lines = resume.position.lines;
        resume.load();
        log.resumed = true;
      }
      await log.catchUp(true, options.hold === true);
    } catch (error) {
      await log.close();
      throw error;
    }
    return log;
  }

  /** Where this log has read (and written) to: what a snapshot of the state applied so far covers. */
  position(): LogPosition {
    return { offset: this.offset, lines: this.lines, lastLineLength: this.lastLine.length, lastLineHash: sha256(this.lastLine) };
  }

  /** Whether the log file still has `position`'s last line where it was (so everything before it is what was read). */
  private async holds(position: LogPosition): Promise<boolean> {
    const { offset, lastLineLength, lastLineHash } = position;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(lastLineLength) || lastLineLength > offset || lastLineLength < 0) return false;
    if (offset === 0) return true;
    if (lastLineLength === 0) return false;
    let handle: FileHandle;
    try {
      handle = await open(this.file, 'r');
    } catch {
      return false;
    }
    try {
      const line = Buffer.alloc(lastLineLength);
      const { bytesRead } = await handle.read(line, 0, lastLineLength, offset - lastLineLength);
      if (bytesRead !== lastLineLength || sha256(line) !== lastLineHash || line[lastLineLength - 1] !== 0x0a) return false;
      // The chain continues from this line's hash; a blank last line (never written by byoc) says nothing about
      // the event before it, so such a log is replayed in full instead.
      const text = line.toString('utf8', 0, lastLineLength - 1);
      if (text.trim() === '') return false;
      this.lastLine = line;
      this.head = recordHash(text);
      return true;
    } finally {
      await handle.close();
    }
  }

  /** Reads events other processes appended since the last read (nothing to read while this process holds the store). */
  async refresh(): Promise<void> {
    if (this.held) return;
    await this.turns.run(() => this.catchUp(false));
  }

  /**
   * Replays the whole log again after `reset()` (which empties the state `apply` feeds), in its turn: no commit or
   * read interleaves, so nothing decides on a half-rebuilt state.
   */
  rewind(reset: () => void): Promise<void> {
    return this.turns.run(async () => {
      reset();
      this.offset = 0;
      this.lines = 0;
      this.lastLine = Buffer.alloc(0);
      this.head = GENESIS;
      await this.catchUp(false);
    });
  }

  /**
   * The events of the log up to where this log has read whose line contains `needle` (as JSON text: an id, say),
   * for a lookup that needs one request's events and not the whole state. Lines without it are not parsed, so a
   * damaged line elsewhere goes unnoticed here; a full replay still finds it.
   */
  async scan(needle: string): Promise<BrokerEvent[]> {
    return this.turns.run(async () => {
      const end = this.offset;
      if (end === 0) return [];
      const handle = await open(this.file, 'r');
      const buffer = Buffer.alloc(end);
      try {
        await handle.read(buffer, 0, end, 0);
      } finally {
        await handle.close();
      }
      const found: BrokerEvent[] = [];
      const pattern = Buffer.from(needle);
      for (let at = buffer.indexOf(pattern); at !== -1; ) {
        const start = buffer.lastIndexOf(0x0a, at) + 1;
        const stop = buffer.indexOf(0x0a, at);
        const lineEnd = stop === -1 ? end : stop;
        found.push(this.parse(buffer.toString('utf8', start, lineEnd), () => lineNumberAt(buffer, start)));
        at = lineEnd >= end ? -1 : buffer.indexOf(pattern, lineEnd);
      }
      return found;
    });
  }

  /**
   * Runs `fn` with the current position when no commit or read is under way (every event read is applied). Refused
   * once a write failed: memory then holds decisions the log may not, and nothing may copy them anywhere.
   */
  atRest<T>(fn: (position: LogPosition) => T): Promise<T> {
    return this.turns.run(async () => {
      if (this.broken) throw this.broken;
      return fn(this.position());
    });
  }

  /**
   * The raw stored texts in order, for `byoc broker verify` and moving a store: read without the writer lock, up
   * to the log's size when the walk starts, so it works while a broker serves. A torn last line is left out (it
   * was never acknowledged); see readLogRecords.
   */
  records(): AsyncIterable<StoredRecord> {
    return readLogRecords(this.dir);
  }

  /**
   * Resolves once the log differs from what this reader last saw (another process appended, or cut a torn tail),
   * so a waiter reads again only then (refresh() catches up), or when `signal` aborts (the caller checks it).
   * Woken by fs.watch on the folder (the log may not exist yet, and a watch on the file would lose a replaced
   * file), debounced since a group commit is one write but an editor or a copy may be several; and checked every
   * GROWTH_FALLBACK_MS anyway, because watch events can be lost (inotify's queue overflowing, a network or FUSE
   * filesystem that does not report other hosts' writes): that bounds how late a waiter can be, at the cost of
   * one stat() per GROWTH_FALLBACK_MS, never a tight poll.
   */
  changed(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) {
        resolve();
        return;
      }
      let watcher: FSWatcher | undefined;
      let debounce: NodeJS.Timeout | undefined;
      const fallback = setInterval(() => void check(), GROWTH_FALLBACK_MS);
      let done = false;
      let checking = false;
      let again = false;
      const finish = () => {
        if (done) return;
        done = true;
        watcher?.close();
        clearTimeout(debounce);
        clearInterval(fallback);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const check = async () => {
        if (done) return;
        if (checking) {
          again = true;
          return;
        }
        checking = true;
        try {
          this.growthChecks++;
          if ((await stat(this.file)).size !== this.observed) finish();
        } catch {
          // no log yet: nothing appended
        } finally {
          checking = false;
          if (again && !done) {
            again = false;
            void check();
          }
        }
      };
      signal?.addEventListener('abort', finish, { once: true });
      try {
        watcher = watch(this.dir, { persistent: false }, (_event, name) => {
          if (name && name !== LOG_FILE) return;
          clearTimeout(debounce);
          debounce = setTimeout(() => void check(), GROWTH_DEBOUNCE_MS);
        });
        watcher.on('error', () => undefined); // the fallback check carries on
      } catch {
        // no watching here (the folder is gone, or no inotify instances left): the fallback check carries on
      }
      void check();
    });
  }

  /** How many times changed() looked at the log's size (for tests that prove waiting is not polling). */
  growthChecks = 0;

  /** Lets go of a held store (the served broker stopping): the lock and the append handle. */
  async close(): Promise<void> {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    await this.turns.run(async () => {
      await held.handle.close().catch(() => undefined);
      await rm(path.join(this.dir, SERVING_FILE), { force: true });
      await held.release();
    });
  }

  /** Tells embedded commands which URL serves the store they cannot write to (after `byoc broker serve` listens). */
  async announce(url: string): Promise<void> {
    if (!this.held) return;
    await writePrivateJson(path.join(this.dir, SERVING_FILE), { pid: this.options.owner.pid, host: this.options.owner.host, url });
  }

  /**
   * Runs `decide` with the writer lock held and the state current, then appends the events it returns.
   * Transactions queued while a write is in flight are committed together (one lock, one write, one fsync),
   * each deciding on the state the ones before it produced; none is acknowledged before the fsync.
   */
  transact<T>(decide: () => { events: BrokerEvent[]; result: T }): Promise<T> {
    return this.turns.transact(decide);
  }

  private async commit(batch: Transaction[]): Promise<void> {
    const settled: (() => void)[] = [];
    let release: (() => Promise<void>) | undefined;
    try {
      // Holding the store, nobody else appends: no lock to take and nothing to catch up with.
      if (!this.held) {
        release = await this.lock.acquire();
        await this.catchUp(false, true);
      }
      const decided: { transaction: Transaction; result: unknown }[] = [];
      const lines: string[] = [];
      // Caught up under the lock (or holding the store), `head` is the log's last line: the batch chains from it.
      let prev = this.head;
      for (const transaction of batch) {
        try {
          const { events, result } = transaction.decide();
          for (const event of events) {
            this.apply(event);
            const text = chainedText(event, prev);
            prev = recordHash(text);
            lines.push(`${text}\n`);
          }
          decided.push({ transaction, result });
        } catch (error) {
          settled.push(() => transaction.reject(error));
        }
      }
      try {
        if (lines.length > 0) {
          await this.append(lines.join(''));
          this.head = prev;
        }
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
    const bytes = Buffer.from(text);
    if (this.held) {
      // One write and one fdatasync per batch (the size is data; the file's times are not worth a second flush).
      // The write is synchronous: it only copies a few KiB into the page cache (~4 us), where a trip through the
      // thread pool costs ~20 us of this thread per batch; the flush, which waits for the disk, stays async.
      // The callback fdatasync: measured here at half the wall time of FileHandle.datasync() (300 vs 800 us).
      writeFully(this.held.handle.fd, bytes);
      await datasync(this.held.handle.fd);
    } else {
      const handle = await open(this.file, 'a', 0o600);
      try {
        await handle.write(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    this.offset += bytes.length;
    // appending under the lock (or holding the store): the file ends where this write did
    this.observed = this.offset;
    // one event per line: JSON.stringify never writes a raw newline
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) this.lines++;
    this.lastLine = bytes.subarray(bytes.lastIndexOf(0x0a, bytes.length - 2) + 1);
  }


  /** A line as an event, or store_corrupt naming its line number (asked for only then). */
  private parse(line: string, lineNumber: () => number): BrokerEvent {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw this.corrupt(lineNumber(), 'is not JSON');
    }
    // The link is the store's, not the event's: `apply` and the event checks never see it.
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) value = unchained(value as Record<string, unknown>);
    const problem = eventProblem(value);
    if (problem) throw this.corrupt(lineNumber(), `is not a broker event: ${problem}`);
    return value as BrokerEvent;
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
    this.observed = size;
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
    let lastEvent: string | undefined;
    while (lineStart < complete) {
      const end = buffer.indexOf(0x0a, lineStart);
      lineNumber++;
      const line = buffer.toString('utf8', lineStart, end);
      if (end + 1 === complete) this.lastLine = Buffer.from(buffer.subarray(lineStart, complete));
      lineStart = end + 1;
      if (line.trim() === '') continue;
      const number = lineNumber;
      this.apply(this.parse(line, () => number));
      lastEvent = line;
    }
    // Only the last line's hash is ever needed (the next line's prev): one hash per catch-up, not one per line replayed.
    if (lastEvent !== undefined) this.head = recordHash(lastEvent);
    this.lines = lineNumber;
    this.offset += complete;
    if (complete < buffer.length) {
      // A tail without its newline was never acknowledged: the writer died mid-write (or, without the
      // lock, is still writing). Under the lock nobody else writes, so it is safe to cut it off.
      if (initial || locked) this.options.warn(`ignoring a torn last line in ${this.file} (${buffer.length - complete} bytes, left by an interrupted write)`);
      if (locked) {
        await truncateTo(this.file, this.offset);
        this.observed = this.offset;
      }
    }
  }
}

const RECORDS_CHUNK = 1 << 20;

/**
 * The event lines of the log in `dir` in file order (`where`: "line N", blank lines skipped but counted), read in
 * chunks without the writer lock and up to the size the file had when the walk started: appends after that are
 * not seen. A last line without its newline (a crash mid-write, which the next writer cuts off, or a write still
 * under way) is not an event: it is left out and handed to `torn`, so a reader can tell it from tampering. No log
 * yields nothing.
 */
export async function* readLogRecords(dir: string, torn?: (record: StoredRecord) => void): AsyncGenerator<StoredRecord> {
  let handle: FileHandle;
  try {
    handle = await open(path.join(dir, LOG_FILE), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const size = (await handle.stat()).size;
    let position = 0;
    let line = 0;
    let carry: Buffer = Buffer.alloc(0);
    while (position < size) {
      const chunk = Buffer.alloc(Math.min(RECORDS_CHUNK, size - position));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const buffer = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let start = 0;
      for (let end = buffer.indexOf(0x0a); end !== -1; end = buffer.indexOf(0x0a, start)) {
        line++;
        const text = buffer.toString('utf8', start, end);
        start = end + 1;
        if (text.trim() !== '') yield { where: `line ${line}`, text };
      }
      carry = Buffer.from(buffer.subarray(start));
    }
    if (carry.length > 0) torn?.({ where: `line ${line + 1}`, text: carry.toString('utf8') });
  } finally {
    await handle.close();
  }
}

/**
 * Runs `fn` holding the broker store's writer lock (the one the event log takes), for work that must happen
 * once across processes, such as creating the CA. Not reentrant: never call it from inside a transaction.
 */
export async function withStoreLock<T>(dir: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  await ensurePrivateDir(dir);
  const release = await new FileLock(path.join(dir, LOCK_FILE), { ...options, refuse: (holder) => servedRefusal(dir, holder) }).acquire();
  try {
    return await fn();
  } finally {
    await release();
  }
}

/**
 * The refusal for a writer that finds the store held by a serving broker (its pid in the serving file is the
 * lock's live holder): it would only wait for a lock that is not coming back while the server runs.
 */
async function servedRefusal(dir: string, holder: { pid: number; host?: string }): Promise<Error | undefined> {
  let serving: { pid?: unknown; host?: unknown; url?: unknown };
  try {
    serving = JSON.parse(await readFile(path.join(dir, SERVING_FILE), 'utf8')) as typeof serving;
  } catch {
    return undefined;
  }
  if (serving.pid !== holder.pid || (holder.host !== undefined && serving.host !== holder.host)) return undefined;
  const url = typeof serving.url === 'string' ? serving.url : undefined;
  return new ConfigError('broker_served', `the broker store ${dir} is held by \`byoc broker serve\` (process ${holder.pid}${url ? `, serving ${url}` : ', starting'}); an embedded command cannot write to it meanwhile`, {
    hint: url
      ? `Use the served broker: set broker.url to ${url} (BYOC_BROKER_URL=${url}) with your BYOC_TOKEN, or stop process ${holder.pid} to use the embedded broker. Reading (access list, access show) still works.`
      : `Wait for it to listen and set broker.url to its URL, or stop process ${holder.pid}. Reading (access list, access show) still works.`,
  });
}

/** A small private JSON file written atomically, so a reader never sees half of it. */
async function writePrivateJson(file: string, value: unknown): Promise<void> {
  await writePrivateFile(file, `${JSON.stringify(value)}\n`);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The 1-based number of the line starting at `start` (counted only for an error message). */
function lineNumberAt(buffer: Buffer, start: number): number {
  let count = 1;
  for (let at = buffer.indexOf(0x0a); at !== -1 && at < start; at = buffer.indexOf(0x0a, at + 1)) count++;
  return count;
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

function writeFully(fd: number, bytes: Buffer): void {
  for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written, bytes.length - written);
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
  let prev = GENESIS;
  const lines = events.map((event) => {
    const text = chainedText(event, prev);
    prev = recordHash(text);
    return `${text}\n`;
  });
  await writeFile(path.join(dir, LOG_FILE), lines.join(''), { mode: 0o600 });
}

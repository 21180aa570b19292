import { Transform, type TransformCallback } from 'node:stream';
import { ClickHouseServerError } from './client.js';

/**
 * An exception ClickHouse hit after it had started answering (a result limit, a timeout) arrives as a
 * last line of plain text after HTTP 200: `Code: 396, e.displayText() = DB::Exception: ..., e.what() =
 * DB::Exception` on 18.x, `Code: 396. DB::Exception: ... (version 24.8.1.1)` on newer servers.
 */
const TRAILING_EXCEPTION = /^Code: (\d+)(?:, e\.displayText\(\) = DB::Exception: (.*), e\.what\(\) = DB::Exception|\. DB::Exception: (.*) \(version [^)]*\))\s*$/;

function trailingException(line: string): ClickHouseServerError | undefined {
  // most last lines are rows: skip the pattern (and compiling it, ~1 ms of a short run) unless it can match
  if (!line.trimStart().startsWith('Code: ')) return undefined;
  const match = TRAILING_EXCEPTION.exec(line.trim());
  if (!match) return undefined;
  const code = Number(match[1]);
  return new ClickHouseServerError(code, `ClickHouse stopped the query midway: Code ${code}: ${match[2] ?? match[3]}`, 'The rows before it were printed; narrow the query or raise the limit it names.');
}

export type OutputFormat = 'table' | 'json' | 'ndjson' | 'csv' | 'tsv';

interface StreamLimits {
  /** data rows to print at most; 0 = all */
  maxRows: number;
  /** called once when the limit cut the result */
  onTruncated: (shown: number) => void;
}

/** Turns whole lines of ClickHouse's TSV (header lines included) into the text byoc prints, as they come. */
export interface LineRenderer {
  lines(lines: readonly string[]): string;
  /** the text after the last row (a table's header when no row came, the JSON document's close) */
  end(): string;
}

/** What stands behind a result stream: stopped when the stream needs no more (the row limit), settled before it closes. */
export interface ResultSource {
  /** stop reading and, when the query may still run on the server, start cancelling it there */
  stop(): void;
  /** resolves once the query is over on the server (the cancellation confirmed or given up) */
  settle(): Promise<void>;
}

export interface ResultStreamOptions extends StreamLimits {
  /** lines before the data rows (names, types): passed on, never counted as rows */
  headerLines: number;
  /** for formats byoc renders itself (table, json); absent: the server's bytes pass through unchanged */
  renderer?: LineRenderer | undefined;
}

/**
 * Below this many bytes, output waits for the rest of the current I/O turn before it is written: a fast result
 * reaches stdout in about one write(2) per 64 KiB (the socket hands over 16 KiB TLS records), a slow one with no
 * delay beyond the turn.
 */
const COALESCE_BYTES = 64 * 1024;

/**
 * The one Transform between the server's answer and stdout. It holds back the last line until more data shows it
 * is not a trailing exception (which then fails the stream after the rows before it), passes header lines, cuts
 * at --max-rows by counting newlines, renders table / JSON from whole lines when asked, and coalesces small
 * chunks into fewer writes. Node's own backpressure applies: when stdout is slow, the transform stops taking
 * data, the response pauses and the socket stops reading, so memory stays flat whatever the result's size.
 *
 * A trailing exception is delivered after 'end' (the stream is destroyed with it): the rows before it reach
 * stdout first, and a consumer reads the failure from `errored` when the stream closes.
 */
export class ResultStream extends Transform {
  #source: ResultSource | undefined;
  /** the bytes after the last newline but one: the last line, possibly incomplete */
  #held: Buffer[] = [];
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  /** the slab coalesced output is copied into next, and how much of it is used */
  #slab: Slab | undefined;
  #slabUsed = 0;
  /** retired slabs whose every view the consumer has released: reused instead of allocating */
  #free: Buffer[] = [];
  /** keyed weakly: a slab with a view the consumer never releases is collected, never reused */
  #slabs = new WeakMap<ArrayBufferLike, Slab>();
  #headerSeen = 0;
  #rows = 0;
  #done = false;
  readonly #options: ResultStreamOptions;

  constructor(options: ResultStreamOptions) {
    super({ readableHighWaterMark: COALESCE_BYTES });
    this.#options = options;
  }

  /** Connects the stream to what feeds it (the session), so a cut or a close stops the query behind it. */
  attach(source: ResultSource): void {
    this.#source = source;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#done) return callback();
    const lastLineStart = chunk.lastIndexOf(10, chunk.length - 2) + 1;
    if (lastLineStart === 0) {
      this.#held.push(chunk);
      return callback();
    }
    const parts = [...this.#held, chunk.subarray(0, lastLineStart)];
    this.#held = [chunk.subarray(lastLineStart)];
    try {
      this.#take(parts);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.#done) return callback();
    try {
      let last = this.#held.length === 1 ? this.#held[0]! : Buffer.concat(this.#held);
      this.#held = [];
      // held chunks with no newline of their own may follow a whole line: only the very last line is in question
      const lastLineStart = last.lastIndexOf(10, last.length - 2) + 1;
      if (lastLineStart > 0) {
        this.#take([last.subarray(0, lastLineStart)]);
        if (this.#done) return callback();
        last = last.subarray(lastLineStart);
      }
      const error = last.length ? trailingException(last.toString('utf8')) : undefined;
      if (error) {
        this.#flushPending();
        // After the rows it followed have been read: a consumer sees them all, then the failure.
        this.once('end', () => {
          // a consumer that stopped listening at 'end' reads `errored`; the event must not crash the process
          this.on('error', () => undefined);
          this.destroy(error);
        });
        return callback();
      }
      if (last.length && this.#options.renderer) this.#take([last]);
      else if (last.length && (this.#options.maxRows === 0 || this.#rows < this.#options.maxRows + this.#options.headerLines)) this.#emit(last);
      if (!this.#done) this.#finish(false);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#done = true;
    const source = this.#source;
    if (!source) return callback(error);
    source.stop();
    // Closing waits until the query is over on the server: Ctrl-C and a closed stdout cancel it before byoc exits.
    source.settle().then(
      () => callback(error),
      () => callback(error),
    );
  }

  /** Whole lines (the parts end at a newline, except a last line with none). */
  #take(parts: Buffer[]): void {
    const { renderer, maxRows, headerLines } = this.#options;
    if (renderer) {
      const text = (parts.length === 1 ? parts[0]! : Buffer.concat(parts)).toString('utf8');
      const lines = text.split('\n');
      if (text.endsWith('\n')) lines.pop();
      let start = 0;
      if (this.#headerSeen < headerLines) {
        start = Math.min(lines.length, headerLines - this.#headerSeen);
        this.#headerSeen += start;
      }
      let end = lines.length;
      const cut = maxRows > 0 && this.#rows + (end - start) > maxRows;
      if (cut) end = start + (maxRows - this.#rows);
      this.#rows += end - start;
      const out = renderer.lines(end === lines.length ? lines : lines.slice(0, end));
      if (out) this.#emit(Buffer.from(out, 'utf8'));
      if (cut) this.#finish(true);
      return;
    }
    const allowed = maxRows > 0 ? maxRows + headerLines : Infinity;
    for (const part of parts) {
      if (this.#rows >= allowed) return this.#finish(true);
      if (allowed === Infinity) {
        this.#emit(part);
        continue;
      }
      const cut = cutAfterLines(part, allowed - this.#rows);
      if (cut === -1) {
        this.#rows += countNewlines(part);
        this.#emit(part);
        continue;
      }
      this.#emit(part.subarray(0, cut));
      this.#finish(true);
      return;
    }
  }

  /** The end of the output: the renderer's close, everything pending, then EOF (and, when cut, the query stopped). */
  #finish(truncated: boolean): void {
    this.#done = true;
    const tail = this.#options.renderer?.end();
    if (tail) this.#emit(Buffer.from(tail, 'utf8'));
    this.#flushPending();
    this.push(null);
    if (!truncated) return;
    this.#options.onTruncated(this.#options.maxRows);
    // The rest of the answer is not wanted: stop reading it and cancel the query; close once what was kept is read.
    this.#source?.stop();
    this.once('end', () => this.destroy());
  }

  #emit(data: Buffer): void {
    if (!data.length) return;
    this.#pending.push(data);
    this.#pendingBytes += data.length;
    if (this.#pendingBytes >= COALESCE_BYTES) {
      this.#flushPending();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        if (!this.destroyed && !this.readableEnded) this.#flushPending();
      });
    }
  }

  #flushPending(): void {
    if (!this.#pendingBytes) return;
    let data: Buffer;
    if (this.#pending.length === 1) {
      data = this.#pending[0]!;
    } else if (this.#pendingBytes <= SLAB_BYTES) {
      if (!this.#slab || SLAB_BYTES - this.#slabUsed < this.#pendingBytes) this.#nextSlab();
      const slab = this.#slab!;
      const start = this.#slabUsed;
      for (const part of this.#pending) this.#slabUsed += part.copy(slab.buffer, this.#slabUsed);
      data = slab.buffer.subarray(start, this.#slabUsed);
      slab.lent.set(data.byteOffset, data.byteLength);
    } else {
      data = Buffer.concat(this.#pending, this.#pendingBytes);
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    this.push(data);
  }

  /** Retires the current slab (free once all its views are released) and takes a free one, or a new one. */
  #nextSlab(): void {
    const current = this.#slab;
    if (current) {
      current.retired = true;
      this.#recycle(current);
    }
    const buffer = this.#free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
    this.#slab = { buffer, lent: new Map(), retired: false };
    this.#slabs.set(buffer.buffer, this.#slab);
    this.#slabUsed = 0;
  }

  #recycle(slab: Slab): void {
    if (slab.retired && slab.lent.size === 0 && this.#free.length < MAX_FREE_SLABS) this.#free.push(slab.buffer);
  }

  /**
   * The consumer has written `chunk` (its write callback ran): once every chunk copied into a slab has been
   * written, and the slab is full, it is reused. Copies made to coalesce would otherwise be garbage the size of
   * the result, which V8 collects only after tens of MiB of it (external memory), so peak RSS would grow with
   * the result. A consumer that does not release simply gets fresh slabs.
   */
  release(chunk: Uint8Array): void {
    const slab = this.#slabs.get(chunk.buffer);
    // only an exact view that was pushed: a part of one, or a copy, says nothing about the rest
    if (!slab || slab.lent.get(chunk.byteOffset) !== chunk.byteLength) return;
    slab.lent.delete(chunk.byteOffset);
    this.#recycle(slab);
  }
}

/** A coalescing buffer: the views of it pushed and not yet released (offset -> length), and whether it is full. */
interface Slab {
  buffer: Buffer;
  lent: Map<number, number>;
  retired: boolean;
}

/** Coalescing buffers: room for COALESCE_BYTES and the chunk that crossed it; a few kept for reuse. */
const SLAB_BYTES = 2 * COALESCE_BYTES;
const MAX_FREE_SLABS = 4;

/** The offset just after the `count`-th newline, or -1 when there are fewer. */
function cutAfterLines(chunk: Uint8Array, count: number): number {
  let seen = 0;
  for (let index = chunk.indexOf(10); index !== -1; index = chunk.indexOf(10, index + 1)) {
    if (++seen === count) return index + 1;
  }
  return -1;
}

function countNewlines(chunk: Uint8Array): number {
  let count = 0;
  for (let index = chunk.indexOf(10); index !== -1; index = chunk.indexOf(10, index + 1)) count++;
  return count;
}


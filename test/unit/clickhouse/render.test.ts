import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { jsonRenderer, tableRenderer } from '../../../src/clickhouse/render.js';
import { ResultStream, type ResultStreamOptions } from '../../../src/clickhouse/result-stream.js';
import { parseTsvLine, queryIdFor } from '../../../src/clickhouse/run.js';

const noLimit = { maxRows: 0, onTruncated: () => undefined };

/** Feeds `chunks` through a ResultStream and collects what comes out, and how it failed. */
async function through(chunks: string[], options: ResultStreamOptions) {
  const stream = new ResultStream(options);
  const stops = { count: 0 };
  stream.attach({ stop: () => void stops.count++, settle: async () => undefined });
  Readable.from(chunks.map((chunk) => Buffer.from(chunk))).pipe(stream);
  const pieces: string[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) pieces.push(chunk.toString('utf8'));
  await new Promise<void>((resolve) => (stream.closed ? resolve() : stream.once('close', () => resolve())));
  return { text: pieces.join(''), pieces, error: stream.errored, stops: stops.count };
}

describe('TSV parsing', () => {
  it('undoes ClickHouse escaping and reads \\N as NULL', () => {
    expect(parseTsvLine('a\\tb\tline\\nbreak\t\\N\tback\\\\slash\t')).toEqual(['a\tb', 'line\nbreak', null, 'back\\slash', '']);
  });
});

describe('query ids', () => {
  it('are byoc-<request>-<uuid>', () => {
    expect(queryIdFor('r-abc')).toMatch(/^byoc-r-abc-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('the result stream', () => {
  it('passes the server bytes through unchanged, coalescing small chunks into few writes', async () => {
    // Given 2000 small chunks of TSV arriving in one turn
    const chunks = ['n\n', ...Array.from({ length: 2000 }, (_, index) => `${index}\n`)];
    // When they pass through
    const { text, pieces, error } = await through(chunks, { ...noLimit, headerLines: 1 });
    // Then the bytes are the same, in far fewer chunks
    expect(error).toBeNull();
    expect(text).toBe(chunks.join(''));
    expect(pieces.length).toBeLessThan(10);
  });

  it('reuses a coalescing buffer only once the consumer has released every chunk of it', async () => {
    // Given a stream fed small chunks in separate turns, so each turn coalesces into a copy
    const feed = async (release: boolean) => {
      const stream = new ResultStream({ ...noLimit, headerLines: 0 });
      const kept: Buffer[] = [];
      let text = '';
      const reading = (async () => {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          kept.push(chunk);
          text += chunk.toString();
          if (release) stream.release(chunk);
        }
      })();
      for (let turn = 0; turn < 30_000; turn++) {
        stream.write(Buffer.from(`${turn}a\n${turn}b\n`));
        stream.write(Buffer.from(`${turn}c\n${turn}d\n`));
        if (turn % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      stream.end();
      await reading;
      return Object.assign(kept, { text });
    };
    const expected = Array.from({ length: 30_000 }, (_, turn) => `${turn}a\n${turn}b\n${turn}c\n${turn}d\n`).join('');
    // When the consumer keeps every chunk and never releases one
    const kept = await feed(false);
    // Then every chunk it holds is still intact at the end: nothing was overwritten
    expect(Buffer.concat(kept).toString() === expected).toBe(true);
    // When the consumer releases each chunk at once (it wrote it)
    const released = await feed(true);
    // Then the chunks (read as they came) are right, and a few buffers carried them all
    expect(released.text === expected).toBe(true);
    expect(released.length).toBeGreaterThan(5);
    expect(new Set(released.map((chunk) => chunk.buffer)).size).toBeLessThanOrEqual(3);
  });

  it('cuts at the row limit across chunk borders, says so, and stops the source', async () => {
    // Given rows split across chunks and --max-rows 3
    let truncated = 0;
    // When they pass through
    const result = await through(['n\n1\n2', '\n3\n4\n5\n'], { maxRows: 3, onTruncated: (shown) => (truncated = shown), headerLines: 1 });
    // Then the header and three rows print, the cut is reported, and the query behind is stopped
    expect(result.text).toBe('n\n1\n2\n3\n');
    expect(truncated).toBe(3);
    expect(result.stops).toBeGreaterThanOrEqual(1);
  });

  it('passes data that only mentions an exception, and a last line with no newline', async () => {
    const { text, error } = await through(['exception\nCode: 291 in the text\nlast'], { ...noLimit, headerLines: 1 });
    expect(error).toBeNull();
    expect(text).toBe('exception\nCode: 291 in the text\nlast');
  });

  it('keeps memory bounded behind a slow stdout (backpressure reaches the source)', async () => {
    // Given an endless source of 16 KiB chunks, counted as they are pulled, and a stdout that takes nothing
    let pulled = 0;
    const source = new Readable({
      read() {
        pulled++;
        this.push(Buffer.alloc(16 * 1024, '1\n'));
      },
    });
    const stuck = new Writable({ highWaterMark: 1024, write: () => undefined });
    const stream = new ResultStream({ ...noLimit, headerLines: 0 });
    const piping = pipeline(source, stream, stuck).catch(() => undefined);
    // When the pipe has had time to fill
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Then only a few chunks were pulled: the source is paused, not buffered into memory
    expect(pulled).toBeLessThan(40);
    source.destroy();
    await piping;
  });
});

describe('a server exception after the rows started', () => {
  const OLD = 'Code: 396, e.displayText() = DB::Exception: Limit for result exceeded, max rows: 1.00 million, e.what() = DB::Exception';
  const NEW = 'Code: 396. DB::Exception: Limit for result exceeded, max rows: 1.00 million. (TOO_MANY_ROWS_OR_BYTES) (version 24.8.1.1)';

  it.each([['18.x', OLD], ['current', NEW]])('fails the raw stream (%s) after the rows, without printing the exception as data', async (_label, exception) => {
    const { text, error } = await through(['n\n1\n2\n', `3\n${exception}\n`], { ...noLimit, headerLines: 1 });
    expect(text).toBe('n\n1\n2\n3\n');
    expect(error).toMatchObject({ exitCode: 5, message: expect.stringContaining('Code 396') });
  });

  it('fails the rendered stream too (json)', async () => {
    const { text, error } = await through(['n\nUInt64\n1\n', `${OLD}\n`], { ...noLimit, headerLines: 2, renderer: jsonRenderer({ queryId: 'q', requestId: 'r' }) });
    expect(error).toMatchObject({ exitCode: 5 });
    expect(text).not.toContain('Code: 396');
  });
});

describe('formats byoc renders from the same stream', () => {
  const rows = (count: number) => Array.from({ length: count }, (_, index) => `row${index}\t${index}\n`);

  it('the JSON document is one valid document with typed values', async () => {
    // Given a TabSeparatedWithNamesAndTypes answer in many chunks
    const chunks = ['name\tn\nString\tUInt32\n', ...rows(5000)];
    // When it is rendered as JSON
    const { text } = await through(chunks, { ...noLimit, headerLines: 2, renderer: jsonRenderer({ queryId: 'q', requestId: 'r' }) });
    // Then it parses, with every row and numbers as numbers
    const document = JSON.parse(text) as { rows: { name: string; n: number }[]; rowCount: number };
    expect(document.rowCount).toBe(5000);
    expect(document.rows[4999]).toEqual({ name: 'row4999', n: 4999 });
  });

  it('the table sizes columns from the first rows, and the row limit counts data rows only', async () => {
    let truncated = 0;
    const { text } = await through(['name\tvalue\nString\tUInt64\n', ...rows(500)], {
      maxRows: 150,
      onTruncated: (shown) => (truncated = shown),
      headerLines: 2,
      renderer: tableRenderer({ color: false, columns: 80 }),
    });
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('name    value');
    expect(lines).toHaveLength(151);
    expect(truncated).toBe(150);
  });

  it('an empty result still prints a header (table) and an empty document (json)', async () => {
    expect((await through(['a\tb\nString\tString\n'], { ...noLimit, headerLines: 2, renderer: tableRenderer({ color: false, columns: 80 }) })).text).toBe('a  b\n');
    const { text } = await through(['a\nString\n'], { ...noLimit, headerLines: 2, renderer: jsonRenderer({ queryId: 'q', requestId: 'r' }) });
    expect(JSON.parse(text)).toEqual({ queryId: 'q', requestId: 'r', columns: [{ name: 'a', type: 'String' }], rows: [], rowCount: 0 });
  });
});

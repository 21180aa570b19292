import { describe, expect, it } from 'vitest';
import { jsonDocument, passthrough, passthroughBytes, table } from '../../../src/clickhouse/render.js';
import { parseTsvLine, queryIdFor } from '../../../src/clickhouse/run.js';

const noLimit = { maxRows: 0, onTruncated: () => undefined };

/** A source that counts how many batches were pulled, to prove the renderers stream. */
function counted(batches: string[][]) {
  const state = { pulled: 0 };
  const source = (async function* () {
    for (const batch of batches) {
      state.pulled++;
      yield batch;
    }
  })();
  return { source, state };
}

async function collect(chunks: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const chunk of chunks) text += chunk;
  return text;
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

describe('renderers stream with constant memory', () => {
  const many = (batches: number) => [['n'], ...Array.from({ length: batches }, (_, b) => Array.from({ length: 100 }, (_, i) => String(b * 100 + i)))];

  it('passthrough yields the first batch before pulling the rest', async () => {
    const { source, state } = counted(many(1000));
    const iterator = passthrough(source, 1, noLimit)[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    expect(state.pulled).toBeLessThanOrEqual(3);
    await iterator.return?.(undefined);
  });

  it('the JSON document streams too, and is one valid document', async () => {
    const batches = [['n', 'UInt64'], ...many(50).slice(1)];
    batches[0] = ['n'];
    batches.splice(1, 0, ['UInt64']);
    const { source, state } = counted(batches);
    const iterator = jsonDocument(source, noLimit, { queryId: 'q', requestId: 'r' })[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    expect(state.pulled).toBeLessThanOrEqual(4);
    let rest = '';
    for (let step = await iterator.next(); !step.done; step = await iterator.next()) rest += step.value;
    expect(rest.endsWith('"rowCount":5000}\n')).toBe(true);
  });

  it('the table sizes columns from the first rows, then streams the rest', async () => {
    const { source, state } = counted([['name\tvalue'], ['String\tUInt64'], ...Array.from({ length: 500 }, (_, i) => [`row${i}\t${i}`])]);
    const iterator = table(source, noLimit, { color: false, columns: 80 })[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value).toBe('name   value\n');
    expect(state.pulled).toBeLessThanOrEqual(103);
    await iterator.return?.(undefined);
  });

  it('an empty result still prints a header (table) and an empty document (json)', async () => {
    expect(await collect(table((async function* () { yield ['a\tb', 'String\tString']; })(), noLimit, { color: false, columns: 80 }))).toBe('a  b\n');
    const document = JSON.parse(await collect(jsonDocument((async function* () { yield ['a', 'String']; })(), noLimit, { queryId: 'q', requestId: 'r' })));
    expect(document).toEqual({ queryId: 'q', requestId: 'r', columns: [{ name: 'a', type: 'String' }], rows: [], rowCount: 0 });
  });

  it('stops pulling at the row limit', async () => {
    const { source, state } = counted(many(1000));
    let truncatedAt = 0;
    const text = await collect(passthrough(source, 1, { maxRows: 250, onTruncated: (shown) => (truncatedAt = shown) }));
    expect(text.trim().split('\n')).toHaveLength(251);
    expect(truncatedAt).toBe(250);
    expect(state.pulled).toBeLessThanOrEqual(4);
  });
});

describe('a server exception after the rows started', () => {
  const OLD = 'Code: 396, e.displayText() = DB::Exception: Limit for result exceeded, max rows: 1.00 million, e.what() = DB::Exception';
  const NEW = 'Code: 396. DB::Exception: Limit for result exceeded, max rows: 1.00 million. (TOO_MANY_ROWS_OR_BYTES) (version 24.8.1.1)';

  it.each([['18.x', OLD], ['current', NEW]])('fails the raw stream (%s) without printing the exception as data', async (_label, exception) => {
    const chunks = (async function* () {
      yield Buffer.from('n\n1\n2\n');
      yield Buffer.from(`3\n${exception}\n`);
    })();
    const printed: string[] = [];
    const attempt = (async () => {
      for await (const chunk of passthroughBytes(chunks, 1, noLimit)) printed.push(Buffer.from(chunk).toString());
    })();
    await expect(attempt).rejects.toMatchObject({ exitCode: 5, message: expect.stringContaining('Code 396') });
    expect(printed.join('')).toBe('n\n1\n2\n3\n');
  });

  it('fails the row stream too (table, json)', async () => {
    const batches = (async function* () {
      yield ['n', 'UInt64', '1'];
      yield [OLD];
    })();
    await expect(collect(jsonDocument(batches, noLimit, { queryId: 'q', requestId: 'r' }))).rejects.toMatchObject({ exitCode: 5 });
  });

  it('passes data that only mentions an exception, and a last line with no newline', async () => {
    const chunks = (async function* () {
      yield Buffer.from('exception\nCode: 291 in the text\nlast');
    })();
    let text = '';
    for await (const chunk of passthroughBytes(chunks, 1, noLimit)) text += Buffer.from(chunk).toString();
    expect(text).toBe('exception\nCode: 291 in the text\nlast');
  });

  it('cuts the raw stream at the row limit across chunk borders', async () => {
    const chunks = (async function* () {
      yield Buffer.from('n\n1\n2');
      yield Buffer.from('\n3\n4\n5\n');
    })();
    let text = '';
    let truncated = 0;
    for await (const chunk of passthroughBytes(chunks, 1, { maxRows: 3, onTruncated: (shown) => (truncated = shown) })) text += Buffer.from(chunk).toString();
    expect(text).toBe('n\n1\n2\n3\n');
    expect(truncated).toBe(3);
  });
});

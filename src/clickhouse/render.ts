import { ClickHouseServerError } from './client.js';
import { displayWidth, fitCells, padCells } from '../ui/text.js';
import { parseTsvLine } from './run.js';

/**
 * An exception ClickHouse hit after it had started answering (a result limit, a timeout) arrives as a
 * last line of plain text after HTTP 200: `Code: 396, e.displayText() = DB::Exception: ..., e.what() =
 * DB::Exception` on 18.x, `Code: 396. DB::Exception: ... (version 24.8.1.1)` on newer servers.
 */
const TRAILING_EXCEPTION = /^Code: (\d+)(?:, e\.displayText\(\) = DB::Exception: (.*), e\.what\(\) = DB::Exception|\. DB::Exception: (.*) \(version [^)]*\))\s*$/;

function trailingException(line: string): ClickHouseServerError | undefined {
  const match = TRAILING_EXCEPTION.exec(line.trim());
  if (!match) return undefined;
  const code = Number(match[1]);
  return new ClickHouseServerError(code, `ClickHouse stopped the query midway: Code ${code}: ${match[2] ?? match[3]}`, 'The rows before it were printed; narrow the query or raise the limit it names.');
}

/** Holds back each batch's last line until the next one comes, so a trailing exception is never printed as data. */
async function* withoutTrailingException(batches: AsyncIterable<string[]>): AsyncGenerator<string[]> {
  let held: string | undefined;
  for await (const batch of batches) {
    if (batch.length === 0) continue;
    const out = held === undefined ? batch.slice(0, -1) : [held, ...batch.slice(0, -1)];
    held = batch.at(-1);
    if (out.length) yield out;
  }
  if (held === undefined) return;
  const error = trailingException(held);
  if (error) throw error;
  yield [held];
}

export type OutputFormat = 'table' | 'json' | 'ndjson' | 'csv' | 'tsv';

interface Column {
  name: string;
  type: string;
}

export interface StreamLimits {
  /** data rows to print at most; 0 = all */
  maxRows: number;
  /** called once when the limit cut the result */
  onTruncated: (shown: number) => void;
}

/** Lines from batches, after `headerLines`, stopping at the row limit (the source is closed when we stop). */
async function* limitedLines(batches: AsyncIterable<string[]>, headerLines: number, limits: StreamLimits): AsyncGenerator<string[]> {
  let seenHeader = 0;
  let rows = 0;
  for await (const batch of withoutTrailingException(batches)) {
    let start = 0;
    if (seenHeader < headerLines) {
      start = Math.min(batch.length, headerLines - seenHeader);
      seenHeader += start;
      yield batch.slice(0, start);
    }
    let data = batch.slice(start);
    if (limits.maxRows > 0 && rows + data.length > limits.maxRows) {
      data = data.slice(0, limits.maxRows - rows);
      rows += data.length;
      if (data.length) yield data;
      limits.onTruncated(rows);
      return;
    }
    rows += data.length;
    if (data.length) yield data;
  }
}

/** ClickHouse's own text (TSV, CSV, JSONEachRow) passed through, one write per batch. */
export async function* passthrough(batches: AsyncIterable<string[]>, headerLines: number, limits: StreamLimits): AsyncGenerator<string> {
  for await (const lines of limitedLines(batches, headerLines, limits)) yield `${lines.join('\n')}\n`;
}

/**
 * ClickHouse's bytes passed straight through, counting newlines only to honour the row limit: no per-row
 * strings, so throughput is close to the network's.
 */
export async function* passthroughBytes(chunks: AsyncIterable<Uint8Array>, headerLines: number, limits: StreamLimits): AsyncGenerator<Uint8Array> {
  const allowed = limits.maxRows > 0 ? limits.maxRows + headerLines : Infinity;
  let lines = 0;
  // The last line seen so far is held back until more data shows it was not a trailing exception.
  let held: Uint8Array = new Uint8Array(0);
  for await (const chunk of chunks) {
    const lastLineStart = chunk.lastIndexOf(10, chunk.length - 2) + 1;
    if (lastLineStart === 0) {
      held = held.length ? Buffer.concat([held, chunk]) : chunk;
      continue;
    }
    const parts = held.length ? [held, chunk.subarray(0, lastLineStart)] : [chunk.subarray(0, lastLineStart)];
    held = chunk.subarray(lastLineStart);
    for (const part of parts) {
      if (allowed === Infinity) {
        yield part;
        continue;
      }
      const cut = cutAfterLines(part, allowed - lines);
      if (cut === -1) {
        lines += countNewlines(part);
        yield part;
        continue;
      }
      yield part.subarray(0, cut);
      limits.onTruncated(limits.maxRows);
      return;
    }
  }
  if (held.length === 0) return;
  const error = trailingException(Buffer.from(held).toString('utf8'));
  if (error) throw error;
  if (lines < allowed) yield held;
}

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

const SAMPLE_ROWS = 100;
const MAX_WIDTH = 60;

/**
 * An aligned table for a terminal. Widths (in terminal cells: CJK and emoji take two) come from the header and
 * the first rows, so the first screen appears without waiting for the whole result, and memory stays flat.
 */
export async function* table(batches: AsyncIterable<string[]>, limits: StreamLimits, options: { color: boolean; columns: number }): AsyncGenerator<string> {
  let names: string[] | undefined;
  let sample: (string | null)[][] = [];
  let widths: number[] | undefined;
  const format = (row: (string | null)[]) =>
    row
      .map((cell, index) => {
        const text = cell === null ? 'NULL' : cell.replace(/\n/g, '⏎').replace(/\t/g, ' ');
        const width = widths![index]!;
        const fitted = fitCells(text, width);
        return index === row.length - 1 ? fitted : padCells(fitted, width);
      })
      .join('  ');
  const start = function* () {
    widths = names!.map((name, index) => Math.min(MAX_WIDTH, Math.max(displayWidth(name), ...sample.map((row) => displayWidth(row[index] ?? 'NULL')))));
    const header = format(names!);
    yield `${options.color ? `\u001b[1m${header}\u001b[22m` : header}\n`;
    if (sample.length) yield `${sample.map(format).join('\n')}\n`;
    sample = [];
  };
  let headerLines = 0;
  for await (const lines of limitedLines(batches, 2, limits)) {
    const rows: (string | null)[][] = [];
    for (const line of lines) {
      if (headerLines < 2) {
        if (headerLines === 0) names = parseTsvLine(line).map((name) => name ?? '');
        headerLines++;
        continue;
      }
      rows.push(parseTsvLine(line));
    }
    if (widths) {
      if (rows.length) yield `${rows.map(format).join('\n')}\n`;
    } else {
      sample.push(...rows);
      if (sample.length >= SAMPLE_ROWS) yield* start();
    }
  }
  if (!names) return;
  if (!widths) yield* start();
}

const NUMERIC = /^(U?Int(8|16|32)|Float(32|64))$/;

function typedValue(type: string, value: string | null): unknown {
  if (value === null) return null;
  const base = type.replace(/^(Nullable|LowCardinality)\((.*)\)$/, '$2');
  if (NUMERIC.test(base)) {
    const number = Number(value);
    return Number.isFinite(number) ? number : value;
  }
  return value;
}

/**
 * One JSON document, streamed: `{"queryId", "requestId", "columns": [...], "rows": [{...}], "rowCount"}`.
 * 64-bit integers stay strings, as ClickHouse's own JSON does, so no precision is lost.
 */
export async function* jsonDocument(batches: AsyncIterable<string[]>, limits: StreamLimits, meta: { queryId: string; requestId: string }): AsyncGenerator<string> {
  let columns: Column[] | undefined;
  let names: string[] = [];
  let rowCount = 0;
  let header: (string | null)[] | undefined;
  for await (const lines of limitedLines(batches, 2, limits)) {
    const out: string[] = [];
    for (const line of lines) {
      const fields = parseTsvLine(line);
      if (!header) {
        header = fields;
        continue;
      }
      if (!columns) {
        names = header.map((name) => name ?? '');
        columns = names.map((name, index) => ({ name, type: fields[index] ?? 'String' }));
        out.push(`{"queryId":${JSON.stringify(meta.queryId)},"requestId":${JSON.stringify(meta.requestId)},"columns":${JSON.stringify(columns)},"rows":[`);
        continue;
      }
      const row: Record<string, unknown> = {};
      fields.forEach((value, index) => (row[names[index] ?? `c${index}`] = typedValue(columns![index]?.type ?? 'String', value)));
      out.push(`${rowCount === 0 ? '\n' : ',\n'}${JSON.stringify(row)}`);
      rowCount++;
    }
    if (out.length) yield out.join('');
  }
  if (!columns) {
    yield `{"queryId":${JSON.stringify(meta.queryId)},"requestId":${JSON.stringify(meta.requestId)},"columns":[],"rows":[`;
  }
  yield `${rowCount ? '\n' : ''}],"rowCount":${rowCount}}\n`;
}

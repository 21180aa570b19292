import { displayWidth, fitCells, padCells } from '../ui/text.js';
import type { LineRenderer } from './result-stream.js';
import { parseTsvLine } from './run.js';

// The formats byoc renders itself from ClickHouse's TSV lines (a ResultStream's renderer): imported only for them,
// so the other formats never load the terminal-width code.

const SAMPLE_ROWS = 100;
const MAX_WIDTH = 60;

/**
 * An aligned table for a terminal, from TabSeparatedWithNamesAndTypes lines. Widths (in terminal cells: CJK and
 * emoji take two) come from the header and the first rows, so the first screen appears without waiting for the
 * whole result, and memory stays flat.
 */
export function tableRenderer(options: { color: boolean; columns: number }): LineRenderer {
  let names: string[] | undefined;
  let headerLines = 0;
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
  const start = () => {
    widths = names!.map((name, index) => Math.min(MAX_WIDTH, Math.max(displayWidth(name), ...sample.map((row) => displayWidth(row[index] ?? 'NULL')))));
    const header = format(names!);
    const text = `${options.color ? `\u001b[1m${header}\u001b[22m` : header}\n${sample.length ? `${sample.map(format).join('\n')}\n` : ''}`;
    sample = [];
    return text;
  };
  return {
    lines(lines) {
      const rows: (string | null)[][] = [];
      for (const line of lines) {
        if (headerLines < 2) {
          if (headerLines === 0) names = parseTsvLine(line).map((name) => name ?? '');
          headerLines++;
          continue;
        }
        rows.push(parseTsvLine(line));
      }
      if (widths) return rows.length ? `${rows.map(format).join('\n')}\n` : '';
      sample.push(...rows);
      return sample.length >= SAMPLE_ROWS ? start() : '';
    },
    end: () => (names && !widths ? start() : ''),
  };
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
 * One JSON document, streamed from TabSeparatedWithNamesAndTypes lines:
 * `{"queryId", "requestId", "columns": [...], "rows": [{...}], "rowCount"}`. 64-bit integers stay strings, as
 * ClickHouse's own JSON does, so no precision is lost.
 */
export function jsonRenderer(meta: { queryId: string; requestId: string }): LineRenderer {
  let header: (string | null)[] | undefined;
  let columns: { name: string; type: string }[] | undefined;
  let names: string[] = [];
  let rowCount = 0;
  const opening = (described: unknown) => `{"queryId":${JSON.stringify(meta.queryId)},"requestId":${JSON.stringify(meta.requestId)},"columns":${JSON.stringify(described)},"rows":[`;
  return {
    lines(lines) {
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
          out.push(opening(columns));
          continue;
        }
        const row: Record<string, unknown> = {};
        fields.forEach((value, index) => (row[names[index] ?? `c${index}`] = typedValue(columns![index]?.type ?? 'String', value)));
        out.push(`${rowCount === 0 ? '\n' : ',\n'}${JSON.stringify(row)}`);
        rowCount++;
      }
      return out.join('');
    },
    end: () => `${columns ? '' : opening([])}${rowCount ? '\n' : ''}],"rowCount":${rowCount}}\n`,
  };
}

/** How metrics answers print: one row shape for every format, a sparkline per series for ranges. */

export type MetricsFormat = 'table' | 'ndjson' | 'csv' | 'tsv';

export type Labels = Record<string, string>;

/** A sample of Prometheus's answer, by series. */
export interface SampleRow {
  series: string;
  time: string;
  value: string;
}

interface VectorItem {
  metric: Labels;
  value: [number, string];
}
interface MatrixItem {
  metric: Labels;
  values: [number, string][];
}

/** The query answer's data, as Prometheus shapes it by resultType. */
export type QueryData =
  | { resultType: 'vector'; result: VectorItem[] }
  | { resultType: 'matrix'; result: MatrixItem[] }
  | { resultType: 'scalar' | 'string'; result: [number, string] };

/** `name{label="value",...}`, as Prometheus prints a series (labels sorted, the name outside the braces). */
export function seriesName(metric: Labels): string {
  const { __name__: name = '', ...labels } = metric;
  const inside = Object.keys(labels)
    .sort()
    .map((key) => `${key}=${JSON.stringify(labels[key])}`)
    .join(',');
  return inside || !name ? `${name}{${inside}}` : name;
}

const iso = (seconds: number) => new Date(Math.round(seconds * 1000)).toISOString();

/** How many series an answer holds (the --max-series count). */
export function seriesCount(data: QueryData): number {
  return Array.isArray(data.result) && data.resultType !== 'scalar' && data.resultType !== 'string' ? data.result.length : 1;
}

/** Every sample as a row: one per series for an instant vector, one per point for a matrix. */
export function sampleRows(data: QueryData): SampleRow[] {
  switch (data.resultType) {
    case 'vector':
      return data.result.map((item) => ({ series: seriesName(item.metric), time: iso(item.value[0]), value: item.value[1] }));
    case 'matrix':
      return data.result.flatMap((item) => item.values.map(([time, value]) => ({ series: seriesName(item.metric), time: iso(time), value })));
    default:
      return [{ series: data.resultType, time: iso(data.result[0]), value: data.result[1] }];
  }
}

/** One line per series of a range: its points drawn, and min / max / last. */
export interface SeriesSummary {
  series: string;
  points: number;
  min: number | null;
  max: number | null;
  last: number | null;
  sparkline: string;
}

const BLOCKS = '▁▂▃▄▅▆▇█';

/**
 * The values as unicode blocks, `width` cells at most (buckets averaged); a bucket with no finite value is a
 * blank, so gaps in a series show. Written here: one line of arithmetic needs no charting library.
 */
export function sparkline(values: readonly number[], width = 40): string {
  if (!values.length) return '';
  const cells = Math.min(width, values.length);
  const buckets = Array.from({ length: cells }, (_, cell) => {
    const part = values.slice(Math.floor((cell * values.length) / cells), Math.floor(((cell + 1) * values.length) / cells)).filter(Number.isFinite);
    return part.length ? part.reduce((sum, value) => sum + value, 0) / part.length : Number.NaN;
  });
  const finite = buckets.filter(Number.isFinite);
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  return buckets.map((value) => (Number.isFinite(value) ? BLOCKS[high === low ? 3 : Math.round(((value - low) / (high - low)) * (BLOCKS.length - 1))] : ' ')).join('');
}

export function summarize(result: readonly MatrixItem[], width = 40): SeriesSummary[] {
  return result.map((item) => {
    const values = item.values.map(([, value]) => Number(value));
    const finite = values.filter(Number.isFinite);
    return {
      series: seriesName(item.metric),
      points: values.length,
      min: finite.length ? Math.min(...finite) : null,
      max: finite.length ? Math.max(...finite) : null,
      last: finite.length ? finite[finite.length - 1]! : null,
      sparkline: sparkline(values, width),
    };
  });
}

/** A number as a person reads it in a table: short, SI-suffixed beyond a thousand. */
export function short(value: number | null): string {
  if (value === null) return '';
  const size = Math.abs(value);
  if (size >= 1e3) {
    const units = ['k', 'M', 'G', 'T', 'P', 'E'];
    let scaled = value;
    let unit = -1;
    while (Math.abs(scaled) >= 1000 && unit < units.length - 1) {
      scaled /= 1000;
      unit += 1;
    }
    return `${Number(scaled.toPrecision(3))}${units[unit]}`;
  }
  return String(Number(value.toPrecision(4)));
}

function csvCell(cell: string): string {
  return /[",\n\r]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

/** Rows in a pipe format: TSV or CSV with a header line, NDJSON one object a line, table as aligned text. */
export function formatRows(rows: readonly Record<string, string>[], columns: readonly string[], format: MetricsFormat): string {
  if (format === 'ndjson') return rows.map((row) => `${JSON.stringify(row)}\n`).join('');
  if (format === 'csv') return [columns, ...rows.map((row) => columns.map((column) => row[column] ?? ''))].map((line) => `${line.map(csvCell).join(',')}\n`).join('');
  if (format === 'tsv') return [columns, ...rows.map((row) => columns.map((column) => row[column] ?? ''))].map((line) => `${line.map((cell) => cell.replace(/[\t\n]/g, ' ')).join('\t')}\n`).join('');
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => [...(row[column] ?? '')].length)));
  return [columns.map((column) => column.toUpperCase()), ...rows.map((row) => columns.map((column) => row[column] ?? ''))]
    .map((line) => `${line.map((cell, index) => (index === line.length - 1 ? cell : cell.padEnd(widths[index]!))).join('  ')}\n`)
    .join('');
}

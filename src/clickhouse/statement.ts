import type { WireFormat } from './client.js';
import type { Preset } from './presets.js';
import { ResultStream, type OutputFormat } from './result-stream.js';

// What `byoc query` and the interactive shell share once a session is open: the preset rendered for the server,
// the wire format each output format asks for, and the one ResultStream between the answer and stdout.

/** The preset for the server behind `all`: its schema read in one query, then the SQL rendered for it. */
export async function renderForServer(preset: Preset, cluster: string | undefined, all: (sql: string) => Promise<AsyncIterable<string[]>>) {
  const [{ schemaSql, describeServer }, { renderPreset }, { parseTsvLine }] = await Promise.all([
    import('./preset-schema.js'),
    import('./presets.js'),
    import('./run.js'),
  ]);
  const rows: (string | null)[][] = [];
  for await (const batch of await all(schemaSql([preset.table]))) for (const line of batch) rows.push(parseTsvLine(line));
  return renderPreset(preset, describeServer(rows), { cluster });
}

/** What byoc asks the server for, per output format: byoc renders table and json itself from typed TSV. */
export function wireFormatFor(format: OutputFormat): WireFormat {
  return format === 'csv' ? 'CSVWithNames' : format === 'ndjson' ? 'JSONEachRow' : format === 'tsv' ? 'TabSeparatedWithNames' : 'TabSeparatedWithNamesAndTypes';
}

export interface SinkOptions {
  format: OutputFormat;
  /** the SQL's own FORMAT clause, when it has one: the server's bytes are then printed as they come */
  own: string | undefined;
  maxRows: number;
  onTruncated: (shown: number) => void;
  queryId: string;
  requestId: string;
  color: boolean;
  columns: number;
}

/**
 * One Transform between the server's answer and stdout (ResultStream): the server's bytes as they come for its own
 * formats, table / JSON rendered from the same stream's lines.
 */
export async function resultSink(options: SinkOptions): Promise<ResultStream> {
  const { format, own, maxRows, onTruncated } = options;
  if (own !== undefined) {
    // The SQL names its own format: sent as written, the server's bytes printed as they come. Rows cannot be
    // counted in every format, so --max-rows is left to the server (max_result_rows, where the user may set it).
    return new ResultStream({ headerLines: 0, maxRows: 0, onTruncated: () => undefined });
  }
  const limits = { maxRows, onTruncated };
  if (format === 'table' || format === 'json') {
    const renderers = await import('./render.js');
    const renderer = format === 'table' ? renderers.tableRenderer({ color: options.color, columns: options.columns }) : renderers.jsonRenderer({ queryId: options.queryId, requestId: options.requestId });
    return new ResultStream({ ...limits, headerLines: 2, renderer });
  }
  return new ResultStream({ ...limits, headerLines: format === 'ndjson' ? 0 : 1 });
}

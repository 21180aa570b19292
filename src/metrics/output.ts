import type { Context } from '../context.js';
import type { RenderContext } from '../command/render.js';
import type { MetricsClient } from './client.js';
import type { MetricsCall } from './endpoints.js';
import { formatRows, short, type MetricsFormat, type SeriesSummary } from './present.js';
import { openMetricsSession, type MetricsSession } from './session.js';

/** What every `byoc metrics` reading command returns: rows for the pipe formats, the answer for --json. */
export interface MetricsOutput {
  format: MetricsFormat;
  columns: string[];
  rows: Record<string, string>[];
  /** --json: the request, the call and Prometheus's data as it answered */
  document: Record<string, unknown>;
  /** range: one line per series for the table view */
  summaries?: SeriesSummary[] | undefined;
}

/** --format, else table on a TTY and TSV piped (as byoc query). */
export function formatFor(ctx: Context, asked: MetricsFormat | undefined): MetricsFormat {
  return asked ?? (ctx.output.stdoutIsTTY ? 'table' : 'tsv');
}

/** One session for the command's calls, closed whatever happens; Prometheus's warnings go to stderr. */
export async function withMetrics<T>(ctx: Context, service: string, timeoutMs: number, use: (session: MetricsSession, client: MetricsClient) => Promise<T>): Promise<T> {
  const endWait = ctx.beginProgress(`reading metrics of ${service}`);
  let session: MetricsSession | undefined;
  try {
    session = await openMetricsSession(ctx, service, { timeoutMs });
    const { client } = session;
    const warned: MetricsClient = {
      async call<T>(call: MetricsCall, signal?: AbortSignal) {
        const answer = await client.call<T>(call, signal ?? ctx.signal);
        answer.warnings.forEach((warning) => ctx.log.warn(`Prometheus: ${warning}`));
        return answer;
      },
      close: () => client.close(),
    };
    return await use(session, warned);
  } finally {
    endWait();
    session?.client.close();
  }
}

export const metricsJson = (output: MetricsOutput) => output.document;

/** Piped or --format: the rows; the table format of a range: a sparkline per series. */
export function metricsText(output: MetricsOutput): string {
  if (output.format === 'table' && output.summaries) return formatRows(summaryRows(output.summaries), SUMMARY_COLUMNS, 'table');
  return formatRows(output.rows, output.columns, output.format);
}

const SUMMARY_COLUMNS = ['series', 'sparkline', 'min', 'max', 'last'];

function summaryRows(summaries: readonly SeriesSummary[]): Record<string, string>[] {
  return summaries.map((summary) => ({ series: summary.series, sparkline: summary.sparkline, min: short(summary.min), max: short(summary.max), last: short(summary.last) }));
}

/** The TTY table (table format only; the other formats print as text on a TTY too). */
export async function metricsView(output: MetricsOutput, render: RenderContext) {
  if (output.format !== 'table') return undefined;
  const { MetricsTable } = await import('../ui/views/metrics.js');
  return output.summaries
    ? MetricsTable({ rows: summaryRows(output.summaries), columns: SUMMARY_COLUMNS, color: render.color, width: render.columns })
    : MetricsTable({ rows: output.rows, columns: output.columns, color: render.color, width: render.columns });
}

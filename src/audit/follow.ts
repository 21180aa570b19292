import type { ClickHouseSession } from '../clickhouse/client.js';
import type { Clock } from '../context.js';
import { queryRows, type QueryRow } from './audit.js';
import type { QueryLogSchema } from './schema.js';
import type { AuditFilter } from './sql.js';

export interface FollowOptions {
  /** how long to wait between polls */
  intervalMs: number;
  clock: Pick<Clock, 'now' | 'sleep'>;
  /** Ctrl-C: the follower ends quietly (no error) and closes the session */
  signal: AbortSignal;
}

/**
 * `audit query-log --follow`: polls with a watermark (last event time, and the ids already printed at that second):
 * nothing twice, nothing skipped. Each poll's window ends an hour past now, so the window's end never holds a row
 * back. Owns the session: closes it when the follower ends, fails, is aborted or its consumer stops.
 */
export async function* followQueries(session: ClickHouseSession, schema: QueryLogSchema, filter: AuditFilter, options: FollowOptions): AsyncGenerator<QueryRow> {
  const { clock, signal } = options;
  let watermark: { time: number; seen: string[] } | undefined;
  try {
    while (!signal.aborted) {
      const open = { ...filter, until: clock.now().getTime() / 1000 + 3600 };
      try {
        for await (const row of queryRows(session, schema, open, watermark, signal)) {
          const time = Date.parse(row.time) / 1000;
          watermark = watermark && watermark.time === time ? { time, seen: [...watermark.seen, row.queryId] } : { time, seen: [row.queryId] };
          yield row;
        }
        await clock.sleep(options.intervalMs, signal);
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
    }
  } finally {
    await session.close();
  }
}

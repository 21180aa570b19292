/**
 * What a query_log (or an exported copy) looks like on this server. Older servers (18.x, 19.x) lack
 * log_comment, tables, databases, query_kind, exception_code and event_time_microseconds, and keep `type`
 * as a number; newer ones have an Enum8. The SQL builder reads only this.
 */
export interface QueryLogSchema {
  source: string;
  columns: ReadonlyMap<string, string>;
  hasLogComment: boolean;
  hasTables: boolean;
  hasExceptionCode: boolean;
  hasQueryKind: boolean;
  hasMicroseconds: boolean;
  typeIsEnum: boolean;
}

const REQUIRED = ['event_date', 'event_time', 'type', 'user', 'query_id', 'query', 'exception', 'read_rows', 'read_bytes', 'query_duration_ms'];

export function describeSchema(source: string, columns: ReadonlyMap<string, string>): QueryLogSchema {
  const missing = REQUIRED.filter((name) => !columns.has(name));
  if (missing.length) {
    throw new Error(`${source} is not shaped like system.query_log: it lacks ${missing.join(', ')}`);
  }
  return {
    source,
    columns,
    hasLogComment: columns.has('log_comment'),
    hasTables: columns.get('tables')?.startsWith('Array(') ?? false,
    hasExceptionCode: columns.has('exception_code'),
    hasQueryKind: columns.has('query_kind'),
    hasMicroseconds: columns.has('event_time_microseconds'),
    typeIsEnum: columns.get('type')?.startsWith('Enum') ?? false,
  };
}

/** `db.table` split and validated, so it can be quoted safely into SQL. */
export function parseSourceTable(text: string): { database: string; table: string } {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a table name of the form database.table`);
  return { database: match[1]!, table: match[2]! };
}

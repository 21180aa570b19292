import { parseServerUser } from '../access/server-user.js';
import type { AccessRequest } from '../access/types.js';
import type { ClickHouseSession } from '../clickhouse/client.js';
import { parseTsvLine } from '../clickhouse/run.js';
import { describeSchema, parseSourceTable, type QueryLogSchema } from './schema.js';
import { maskCredentials } from './mask.js';
import type { QueryTextRead } from './query-text.js';
import * as sql from './sql.js';

export type FindingKind = 'denied' | 'non-system-table' | 'query-text-read' | 'untagged' | 'outside-window' | 'tag-mismatch' | 'login-failed';

export interface QueryRow {
  time: string;
  /** the ClickHouse user the server logged the query under */
  user: string;
  /** the identity a per-request user stands for, else the user name */
  engineer: string;
  /** the per-request user's request, else the one byoc's query_id tag names */
  requestId: string | null;
  queryId: string;
  /** login-failure: a failed login from system.session_log (no query; `error` carries the server's reason) */
  type: 'finish' | 'exception-before-start' | 'exception-while-processing' | 'login-failure';
  readRows: number;
  readBytes: number;
  durationMs: number;
  error: string | null;
  tables: string[];
  query: string;
  /** the request byoc's query_id tag names, whoever ran it (differs from requestId on a tag-mismatch) */
  taggedRequestId: string | null;
}

export interface Finding {
  kind: FindingKind;
  /** one sentence: what is wrong */
  detail: string;
  row: QueryRow;
}

interface ActivitySummary {
  first: string;
  last: string;
  queries: number;
  failures: number;
  denied: number;
  readRows: number;
  readBytes: number;
}

export interface RequestSummary extends ActivitySummary {
  requestId: string | null;
  engineers: string[];
  grant?: { from: string; to: string } | undefined;
}

export interface EngineerSummary extends ActivitySummary {
  engineer: string;
  users: string[];
  requests: (string | null)[];
}

export interface AuditReport {
  source: string;
  schema: { logComment: boolean; tables: boolean; typeIsEnum: boolean; exceptionCode: boolean };
  window: { since: string; until: string };
  findings: Finding[];
  /** what the audit could not check on this server, and why (e.g. no system.session_log) */
  notes?: string[];
  requests: RequestSummary[];
  engineers: EngineerSummary[];
}

export interface AuditOptions {
  filter: sql.AuditFilter;
  sourceTable?: string | undefined;
  flush?: boolean | undefined;
  grants?: readonly AccessRequest[] | undefined;
  /** how many rows of each finding kind to bring back */
  findingLimit?: number;
}

const TYPES: Record<string, QueryRow['type']> = { '2': 'finish', '3': 'exception-before-start', '4': 'exception-while-processing' };

async function* lines(session: ClickHouseSession, text: string, signal?: AbortSignal): AsyncGenerator<(string | null)[]> {
  yield* rowsOf(await session.query({ sql: text, queryId: '', format: 'TabSeparated', settings: {}, signal }));
}

async function* rowsOf(batches: AsyncIterable<string[]>): AsyncGenerator<(string | null)[]> {
  for await (const batch of batches) for (const line of batch) yield parseTsvLine(line);
}

async function all(session: ClickHouseSession, text: string, signal?: AbortSignal): Promise<(string | null)[][]> {
  const rows: (string | null)[][] = [];
  for await (const row of lines(session, text, signal)) rows.push(row);
  return rows;
}

/** Makes the server write buffered log entries now (it flushes every few seconds by itself). */
async function flushLogs(session: ClickHouseSession, signal?: AbortSignal): Promise<void> {
  await session.command('SYSTEM FLUSH LOGS', signal);
}

export async function detectSchema(session: ClickHouseSession, sourceTable = 'system.query_log', signal?: AbortSignal): Promise<QueryLogSchema> {
  const { database, table } = parseSourceTable(sourceTable);
  const rows = await all(session, sql.columnsSql(database, table), signal);
  if (rows.length === 0) throw new Error(`${sourceTable} does not exist on this server (or is not visible to this user)`);
  return describeSchema(`${database}.${table}`, new Map(rows.map(([name, type]) => [name ?? '', type ?? ''])));
}

/** ClickHouse's TSV form of Array(String): ['a','b\'c']. */
function parseStringArray(text: string | null): string[] {
  if (!text || text === '[]') return [];
  const items: string[] = [];
  const pattern = /'((?:[^'\\]|\\.)*)'/g;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) items.push(match[1]!.replace(/\\(.)/g, '$1'));
  return items;
}

/**
 * The engineer a user stands for, read from the name the server logged: a per-request user carries its identity
 * exactly. Any other user (a legacy per-engineer one, or not byoc's) is shown by its name: its query_id tag is the
 * client's word, good enough to group by request but not to name a person.
 */
export function engineerOf(user: string): string {
  return parseServerUser(user)?.identity ?? user;
}

/** The request a row belongs to: its per-request user's, else (any other user) the one its tag names. */
function requestOf(user: string, tag: string | null): string | null {
  return parseServerUser(user)?.requestId ?? (tag || null);
}

export function toRow(fields: (string | null)[]): QueryRow {
  const value = (name: (typeof sql.ROW_FIELDS)[number]) => fields[sql.ROW_FIELDS.indexOf(name)] ?? null;
  const user = value('user') ?? '';
  const tag = value('tag_request') || null;
  return {
    time: new Date(Number(value('time')) * 1000).toISOString(),
    user,
    engineer: engineerOf(user),
    requestId: requestOf(user, tag),
    queryId: value('query_id') ?? '',
    type: TYPES[value('type_code') ?? ''] ?? 'finish',
    readRows: Number(value('read_rows') ?? 0),
    readBytes: Number(value('read_bytes') ?? 0),
    durationMs: Number(value('query_duration_ms') ?? 0),
    // an exception can quote a URL or setting with a credential in it (an engineer's url() call, say)
    error: maskCredentials(value('error') ?? '') || null,
    tables: parseStringArray(value('tables')),
    query: value('query') ?? '',
    taggedRequestId: tag,
  };
}

/** One sentence per finding: what is wrong, naming the engineer and the request(s) concerned. */
export function findingDetail(kind: FindingKind, row: QueryRow, foreignTables: readonly string[] = [], read?: QueryTextRead): string {
  switch (kind) {
    case 'query-text-read':
      return `${row.engineer} read other users' query texts (${(read?.columns ?? ['query']).join(', ')} of ${(read?.tables ?? row.tables).join(', ')}): ${row.readRows} rows read`;
    case 'login-failed':
      return `${row.engineer} failed to log in as ${row.user}${row.error ? `: ${row.error.slice(0, 200)}` : ''}`;
    case 'denied':
      return `${row.engineer} was refused${row.error ? `: ${row.error.slice(0, 200)}` : ''}`;
    case 'non-system-table':
      return `${row.engineer} referenced ${foreignTables.join(', ')}`;
    case 'untagged':
      return `${row.engineer} ran a query with no byoc request tag (query_id ${row.queryId})${row.requestId ? ` as the server user of ${row.requestId}` : ''}`;
    case 'tag-mismatch':
      return `${row.engineer} ran a query as the server user of ${row.requestId} tagged for ${row.taggedRequestId} (query_id ${row.queryId}): the tag does not match the grant`;
    case 'outside-window':
      return `${row.engineer} queried under ${row.requestId} outside its approved window`;
  }
}

const SYSTEM_TABLE = /^(system|information_schema|INFORMATION_SCHEMA)\./;

function grantWindows(grants: readonly AccessRequest[]): sql.GrantWindow[] {
  return grants
    .filter((grant) => grant.approvedAt && grant.notAfter)
    .map((grant) => {
      const end = Math.min(Date.parse(grant.notAfter!), grant.revokedAt ? Date.parse(grant.revokedAt) : Infinity);
      return { requestId: grant.id, from: Date.parse(grant.approvedAt!) / 1000, to: end / 1000 };
    });
}

/**
 * The customer's audit of engineer activity: schema first, then two scans side by side, the per-user summary and
 * every finding kind in one pass (sql.findingsSql), all filtered in ClickHouse. One scan per finding kind cost the
 * server twice the CPU of these two (18.16, 1M rows: 670 ms against 300).
 */
export async function runAudit(session: ClickHouseSession, options: AuditOptions, signal?: AbortSignal): Promise<AuditReport> {
  if (options.flush) await flushLogs(session, signal);
  const schema = await detectSchema(session, options.sourceTable, signal);
  const filter = options.filter;
  const limit = options.findingLimit ?? 1000;
  const findings: Finding[] = [];
  const add = (kind: FindingKind, row: QueryRow) => findings.push({ kind, detail: findingDetail(kind, row), row });
  const queryTextCandidates: QueryRow[] = [];
  const notes: string[] = [];

  // Without a `tables` column, the foreign-table check reads the queries' text here instead, a third scan.
  const [summary] = await Promise.all([
    all(session, sql.summarySql(schema, filter), signal),
    all(session, sql.findingsSql(schema, filter, { limit, grants: options.grants ? grantWindows(options.grants) : undefined }), signal).then((rows) =>
      rows.forEach(([code, ...fields]) => {
        const row = toRow(fields);
        switch (Number(code)) {
          case sql.FINDING_CODES.denied:
            return add('denied', row);
          case sql.FINDING_CODES.untagged:
          case sql.FINDING_CODES.otherGrant:
            if (!row.taggedRequestId) return add('untagged', row);
            // the SQL compared only the user's `byoc_r_` prefix: a name that is not a per-request user is no grant to contradict
            if (parseServerUser(row.user) && row.requestId !== row.taggedRequestId) add('tag-mismatch', row);
            return;
          case sql.FINDING_CODES.foreignTable: {
            const tables = row.tables.filter((table) => !SYSTEM_TABLE.test(table));
            return findings.push({ kind: 'non-system-table', detail: findingDetail('non-system-table', row, tables), row });
          }
          case sql.FINDING_CODES.outsideWindow:
            return add('outside-window', row);
          case sql.FINDING_CODES.queryText:
            // the server said which tables; only the text says which columns
            return queryTextCandidates.push(row);
        }
      }),
    ),
    schema.hasTables ? Promise.resolve() : findingsFromText(session, schema, filter, limit, signal).then((rows) =>
      rows.forEach(({ fields, tables, read }) => {
        const row = toRow(fields);
        if (tables.length) findings.push({ kind: 'non-system-table', detail: findingDetail('non-system-table', row, tables), row: { ...row, tables } });
        if (read) findings.push({ kind: 'query-text-read', detail: findingDetail('query-text-read', row, [], read), row });
      }),
    ),
    loginFailures(session, filter, limit, signal).then((result) => {
      notes.push(...result.notes);
      result.rows.forEach((row) => add('login-failed', row));
    }),
  ]);
  if (queryTextCandidates.length) {
    const { queryTextRead } = await import('./query-text.js');
    for (const row of queryTextCandidates) {
      const read = queryTextRead(row.query);
      if (read) findings.push({ kind: 'query-text-read', detail: findingDetail('query-text-read', row, [], read), row });
    }
  }

  findings.sort((a, b) => a.row.time.localeCompare(b.row.time) || a.kind.localeCompare(b.kind));
  const grantById = new Map(grantWindows(options.grants ?? []).map((grant) => [grant.requestId, grant]));
  const perUser = byUserThenTag(summary).map(([user, tag, first, last, queries, failures, denied, readRows, readBytes]) => ({
    user: user ?? '',
    requestId: requestOf(user ?? '', tag ?? null),
    first: Number(first),
    last: Number(last),
    queries: Number(queries),
    failures: Number(failures),
    denied: Number(denied),
    readRows: Number(readRows),
    readBytes: Number(readBytes),
  }));
  return {
    source: filter.cluster ? `clusterAllReplicas(${filter.cluster}, ${schema.source})` : schema.source,
    schema: { logComment: schema.hasLogComment, tables: schema.hasTables, typeIsEnum: schema.typeIsEnum, exceptionCode: schema.hasExceptionCode },
    window: { since: new Date(filter.since * 1000).toISOString(), until: new Date(filter.until * 1000).toISOString() },
    findings,
    notes,
    requests: group(perUser, (entry) => entry.requestId ?? '').map(({ key, entries }) => {
      const grant = key ? grantById.get(key) : undefined;
      return {
        requestId: key || null,
        engineers: [...new Set(entries.map((entry) => engineerOf(entry.user)))],
        ...totals(entries),
        grant: grant ? { from: new Date(grant.from * 1000).toISOString(), to: new Date(grant.to * 1000).toISOString() } : undefined,
      };
    }),
    engineers: group(perUser, (entry) => engineerOf(entry.user)).map(({ key, entries }) => ({
      engineer: key,
      users: [...new Set(entries.map((entry) => entry.user))],
      requests: [...new Set(entries.map((entry) => entry.requestId))],
      ...totals(entries),
    })),
  };
}

/**
 * The failed logins of the window for an export (`--format ocsf`): every one, after the queries; what could not be
 * checked goes to `note`.
 */
export async function* loginFailureRows(session: ClickHouseSession, filter: sql.AuditFilter, note: (text: string) => void, signal?: AbortSignal): AsyncGenerator<QueryRow> {
  const { rows, notes } = await loginFailures(session, filter, 1_000_000, signal);
  notes.forEach(note);
  yield* rows;
}

/**
 * Failed logins of the engineers' users, from system.session_log where the server keeps one (not 18.x: then a note
 * says the check was skipped, rather than a silent "no failed logins").
 */
async function loginFailures(session: ClickHouseSession, filter: sql.AuditFilter, limit: number, signal?: AbortSignal): Promise<{ rows: QueryRow[]; notes: string[] }> {
  const exists = (await all(session, sql.sessionLogExistsSql(), signal))[0]?.[0];
  if (!Number(exists)) return { rows: [], notes: ['failed logins not checked: this server keeps no system.session_log (ClickHouse 21.9+ with <session_log> configured)'] };
  let found: (string | null)[][];
  try {
    found = await all(session, sql.loginFailuresSql(filter, limit), signal);
  } catch (error) {
    // An auditor allowed query_log but not session_log still gets the rest of the audit, told what was not checked.
    if ((error as { exitCode?: unknown }).exitCode !== 4) throw error;
    return { rows: [], notes: [`failed logins not checked: reading system.session_log was refused (${(error as Error).message.slice(0, 200)})`] };
  }
  const rows = found.map(([time, user, address, protocol, reason]): QueryRow => {
    const server = parseServerUser(user ?? '');
    return {
      time: new Date(Number(time) * 1000).toISOString(),
      user: user ?? '',
      engineer: engineerOf(user ?? ''),
      requestId: server?.requestId ?? null,
      queryId: '',
      type: 'login-failure',
      readRows: 0,
      readBytes: 0,
      durationMs: 0,
      error: [maskCredentials(reason ?? ''), `from ${address ?? '?'} over ${protocol ?? '?'}`].filter(Boolean).join(' '),
      tables: [],
      query: '',
      taggedRequestId: null,
    };
  });
  const engineers = filter.engineers?.length ? new Set(filter.engineers) : undefined;
  return {
    rows: rows.filter((row) => (!engineers || engineers.has(row.user) || engineers.has(row.engineer)) && (!filter.requestId || row.requestId === filter.requestId)),
    notes: [],
  };
}

/**
 * Without a `tables` column (18.x, 19.x), the guard's extractor reads each query's text (streamed): the tables
 * outside system, and reads of other users' query texts (query-text.ts), up to `limit` of each.
 */
async function findingsFromText(session: ClickHouseSession, schema: QueryLogSchema, filter: sql.AuditFilter, limit: number, signal?: AbortSignal) {
  // The SQL parser (~80 KB) only for this: a server with a `tables` column never needs it.
  const [{ extractTables }, { queryTextRead }, batches] = await Promise.all([
    import('../clickhouse/guard.js'),
    import('./query-text.js'),
    session.query({ sql: sql.queryListSql(schema, filter), queryId: '', format: 'TabSeparated', settings: {}, signal }),
  ]);
  const found: { fields: (string | null)[]; tables: string[]; read: QueryTextRead | undefined }[] = [];
  let foreignCount = 0;
  let readCount = 0;
  for await (const fields of rowsOf(batches)) {
    const text = fields[sql.ROW_FIELDS.indexOf('query')] ?? '';
    const foreign = foreignCount < limit ? extractTables(text).filter((table) => !SYSTEM_TABLE.test(table) && !/^(numbers|zeros|one)\b/.test(table)) : [];
    const read = readCount < limit ? queryTextRead(text) : undefined;
    if (foreign.length || read) found.push({ fields, tables: foreign, read });
    if (foreign.length) foreignCount++;
    if (read) readCount++;
    if (foreignCount >= limit && readCount >= limit) break;
  }
  return found;
}

/**
 * The summary's rows with each tag key read as its tag (sql.requestTag), in the order ORDER BY user, tag would give:
 * the server sorted by key, and a key that is no tag (now the empty tag, the smallest) goes to the front of its
 * user's rows. Requests and engineers are listed in the order they first appear, so the order must be the same.
 */
function byUserThenTag(rows: readonly (string | null)[][]): (string | null)[][] {
  const firstOf = new Map<string | null | undefined, number>();
  const read = rows.map((row, index) => {
    if (!firstOf.has(row[0])) firstOf.set(row[0], index);
    return [row[0] ?? null, sql.requestTag(row[1] ?? null), ...row.slice(2)];
  });
  return read.sort((a, b) => firstOf.get(a[0])! - firstOf.get(b[0])! || Number(a[1] !== '') - Number(b[1] !== ''));
}

interface PerUser {
  user: string;
  requestId: string | null;
  first: number;
  last: number;
  queries: number;
  failures: number;
  denied: number;
  readRows: number;
  readBytes: number;
}

function group<T>(items: readonly T[], key: (item: T) => string): { key: string; entries: T[] }[] {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return [...groups].map(([groupKey, entries]) => ({ key: groupKey, entries }));
}

function totals(entries: readonly PerUser[]): ActivitySummary {
  return {
    first: new Date(Math.min(...entries.map((entry) => entry.first)) * 1000).toISOString(),
    last: new Date(Math.max(...entries.map((entry) => entry.last)) * 1000).toISOString(),
    queries: entries.reduce((sum, entry) => sum + entry.queries, 0),
    failures: entries.reduce((sum, entry) => sum + entry.failures, 0),
    denied: entries.reduce((sum, entry) => sum + entry.denied, 0),
    readRows: entries.reduce((sum, entry) => sum + entry.readRows, 0),
    readBytes: entries.reduce((sum, entry) => sum + entry.readBytes, 0),
  };
}

/** The query list, streamed, for --queries and --follow. */
export async function* queryRows(session: ClickHouseSession, schema: QueryLogSchema, filter: sql.AuditFilter, after?: { time: number; seen: readonly string[] }, signal?: AbortSignal): AsyncGenerator<QueryRow> {
  for await (const fields of lines(session, sql.queryListSql(schema, filter, after), signal)) yield toRow(fields);
}

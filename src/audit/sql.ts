import { encodeIdentity, SERVER_USER_PATTERN } from '../access/server-user.js';
import type { QueryLogSchema } from './schema.js';

/**
 * SQL for the customer audit. Everything that filters or aggregates runs in ClickHouse; only findings and
 * (on request) the query list come back. Written to run on 18.x as well as current servers: `type` is
 * compared through CAST(type, 'Int8') (a number on both), times travel as Unix seconds (no time zone
 * ambiguity), and newer columns are used only when the schema has them.
 */
export interface AuditFilter {
  /** Unix seconds, inclusive */
  since: number;
  /** Unix seconds, exclusive */
  until: number;
  /** regular expression on `user` (RE2) that marks engineer users; per-request users always are */
  userPattern: string;
  /** ClickHouse user names, or identities (each selects that engineer's per-request users, any request) */
  engineers?: string[];
  /** the request a row is attributed to (its per-request user's, else its tag's) */
  requestId?: string;
  /** clusterAllReplicas(cluster, source) instead of the source itself */
  cluster?: string;
}

function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function identifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

function sourceExpression(schema: QueryLogSchema, cluster?: string): string {
  const [database, table] = schema.source.split('.') as [string, string];
  const qualified = `${identifier(database)}.${identifier(table)}`;
  return cluster ? `clusterAllReplicas(${quote(cluster)}, ${qualified})` : qualified;
}

/**
 * Who and which grant, from what the server stamped. A per-request user (`byoc_r_<id>_<identity>`) is the grant:
 * its name is the one fact about a query the client cannot choose, so its request id wins, and byoc reads it in
 * TypeScript (parseServerUser) from the user each row carries. byoc's query_id tag (`byoc-<request id>-<uuid>`;
 * log_comment repeats it where the server keeps one, but reading it too would cost another regular expression per
 * row) names the request only for other users (legacy per-engineer users, anything else), and is checked against
 * the user everywhere else.
 *
 * In SQL, the attribution is needed only to filter (--request, --engineer, --grants): every query starts with the
 * same WITH aliases, and ClickHouse computes an alias only where the query uses it, so the default report pays
 * one regular expression per row (the tag's), as before per-request users, and the user's (exactly
 * parseServerUser's grammar) only when a filter needs it.
 */
const ATTRIBUTION = `WITH extract(query_id, '^byoc-(r-[0-9a-z]+)-') AS tag_request,
  extract(user, ${quote(SERVER_USER_PATTERN)}) AS user_request,
  if(user_request != '', concat('r-', user_request), tag_request) AS request_id
`;

/**
 * `--engineer`: each value is a ClickHouse user name, or an identity whose per-request users (any request) are
 * wanted. The identity part of a per-request user is what follows `byoc_r_<id>_`, i.e. from byte
 * length(user_request) + 9 on: compared as a constant set, with no further regular expression per row. (A suffix
 * alone would be ambiguous: `a_c3_a9` ends with the encoding of `a9`.)
 */
function engineerCondition(engineers: readonly string[]): string {
  const encoded = [...new Set(engineers.map(encodeIdentity))];
  return `(user IN (${engineers.map(quote).join(', ')}) OR (user_request != '' AND substring(user, length(user_request) + 9) IN (${encoded.map(quote).join(', ')})))`;
}

/** Finished or failed queries only: a QueryStart row would count every query twice. */
const COMPLETED = `CAST(type, 'Int8') != 1`;

const PER_REQUEST_PREFIX = 'byoc_r_';

/** A literal prefix RE2 reads as itself: `^` then characters that are never special. */
const LITERAL_PREFIX = /^\^([A-Za-z0-9_-]+)$/;

/**
 * `match(column, pattern)`, or for an anchored literal prefix (the default `^byoc_`) the same test as a byte
 * comparison: on 18.x a regular expression over 1M short strings costs about 15 ms, the comparison about 2.
 */
function matches(column: string, pattern: string): string {
  const literal = LITERAL_PREFIX.exec(pattern)?.[1];
  return literal ? `substring(${column}, 1, ${literal.length}) = ${quote(literal)}` : `match(${column}, ${quote(pattern)})`;
}

/**
 * The rows an engineer may have sent: users --user-pattern marks, per-request users, and queries carrying byoc's
 * tag. A per-request user is an engineer whatever --user-pattern says: a narrower pattern must not hide its
 * untagged or mis-tagged queries. By prefix, not by user_request: that would run the user's regular expression on
 * every row in the window even for the findings that keep a few rows (and the prefix test is left out when the
 * pattern's own literal prefix already covers it). The tag by prefix too (LIKE is a regular expression on 18.x).
 */
function engineerRows(userPattern: string): string {
  const literal = LITERAL_PREFIX.exec(userPattern)?.[1];
  const perRequest = literal && PER_REQUEST_PREFIX.startsWith(literal) ? [] : [`substring(user, 1, 7) = ${quote(PER_REQUEST_PREFIX)}`];
  return `(${[matches('user', userPattern), ...perRequest, `substring(query_id, 1, 5) = 'byoc-'`].join(' OR ')})`;
}

function whereClause(schema: QueryLogSchema, filter: AuditFilter): string {
  const conditions = [
    `event_date >= toDate(toDateTime(${Math.floor(filter.since)}))`,
    `event_date <= toDate(toDateTime(${Math.ceil(filter.until)}))`,
    `event_time >= toDateTime(${Math.floor(filter.since)})`,
    `event_time < toDateTime(${Math.ceil(filter.until)})`,
    COMPLETED,
    engineerRows(filter.userPattern),
  ];
  if (filter.engineers?.length) conditions.push(engineerCondition(filter.engineers));
  if (filter.requestId) conditions.push(`request_id = ${quote(filter.requestId)}`);
  return conditions.join('\n  AND ');
}

const EXCEPTION = `CAST(type, 'Int8') IN (3, 4)`;
/**
 * The refusals that make a query `denied`: the server said no for rights, read-only mode or authentication. Every
 * other error (an unknown table or column, a syntax error, a timeout) is a failure, not a refusal. The one list.
 */
export const REFUSAL_CODES: Readonly<Record<number, string>> = {
  164: 'READONLY',
  192: 'UNKNOWN_USER',
  193: 'WRONG_PASSWORD',
  194: 'REQUIRED_PASSWORD',
  195: 'IP_ADDRESS_NOT_ALLOWED',
  291: 'DATABASE_ACCESS_DENIED',
  497: 'ACCESS_DENIED',
  516: 'AUTHENTICATION_FAILED',
};
const CODES = Object.keys(REFUSAL_CODES).join(', ');

/** @internal exported for the test that runs it on a current engine, code by code */
export function deniedCondition(schema: Pick<QueryLogSchema, 'hasExceptionCode'>): string {
  // Where the server records the code, it is authoritative and far cheaper than a regular expression over
  // every row's exception text (old servers do not short-circuit AND). Older ones: the code leads the text
  // ("Code: 291, e.displayText() = ..."), and the names appear in newer texts too.
  const refused = schema.hasExceptionCode
    ? `exception_code IN (${CODES})`
    : `match(exception, '^Code: (${Object.keys(REFUSAL_CODES).join('|')})[^0-9]') OR match(exception, '${Object.values(REFUSAL_CODES).join('|')}|Not enough privileges|readonly mode')`;
  return `(${EXCEPTION} AND (${refused}))`;
}

/**
 * The tag's request as a group key, with no regular expression: what follows `byoc-` up to the first `-` after
 * `byoc-r-`. It is a superset of extract(query_id, '^byoc-(r-[0-9a-z]+)-'): every such tag is its own key, and
 * byoc keeps a key as the tag only when it is one (`requestTag`), so the summary is the same while the server skips
 * a regular expression per row (a quarter of the summary's cost on 18.x).
 */
const TAG_KEY = `if(substring(query_id, 1, 7) = 'byoc-r-', substring(query_id, 6, position(substring(query_id, 8), '-') + 1), '')`;

/** The tag a TAG_KEY stands for: itself when it is a request id, else none (exactly what the SQL's extract reads). */
export function requestTag(key: string | null): string {
  return key && /^r-[0-9a-z]+$/.test(key) ? key : '';
}

/** Per user and tag key (see TAG_KEY): byoc names the request and the engineer from the user (see ATTRIBUTION). */
export function summarySql(schema: QueryLogSchema, filter: AuditFilter): string {
  return `${ATTRIBUTION}SELECT user, ${TAG_KEY} AS tag_key,
  toUnixTimestamp(min(event_time)) AS first, toUnixTimestamp(max(event_time)) AS last,
  count() AS queries, countIf(${EXCEPTION}) AS failures, countIf(${deniedCondition(schema)}) AS denied,
  sum(read_rows) AS read_rows, sum(read_bytes) AS read_bytes
FROM ${sourceExpression(schema, filter.cluster)}
WHERE ${whereClause(schema, filter)}
GROUP BY user, tag_key
ORDER BY user, tag_key`;
}

/** The columns of one query row, in this order, for findings and the query list. */
function rowColumns(schema: QueryLogSchema): string {
  return [
    'toUnixTimestamp(event_time) AS time',
    'user',
    'tag_request',
    'query_id',
    `CAST(type, 'Int8') AS type_code`,
    'read_rows',
    'read_bytes',
    'query_duration_ms',
    `replaceRegexpAll(substring(exception, 1, 500), '[\\t\\n]', ' ') AS error`,
    schema.hasTables ? 'tables' : `[] AS no_tables`,
    `substring(query, 1, 4000) AS query_text`,
  ].join(', ');
}

export const ROW_FIELDS = ['time', 'user', 'tag_request', 'query_id', 'type_code', 'read_rows', 'read_bytes', 'query_duration_ms', 'error', 'tables', 'query'] as const;

/** No subquery: old servers do not push a WHERE into one, and every query would scan the whole log. */
function rowsSql(schema: QueryLogSchema, filter: AuditFilter, extra: string): string {
  return `${ATTRIBUTION}SELECT ${rowColumns(schema)}
FROM ${sourceExpression(schema, filter.cluster)}
WHERE ${whereClause(schema, filter)}${extra ? `\n  AND ${extra}` : ''}
ORDER BY event_time, query_id`;
}

export interface GrantWindow {
  requestId: string;
  /** Unix seconds */
  from: number;
  /** Unix seconds */
  to: number;
}

/**
 * System tables whose rows carry other users' query texts. Reading them is allowed to an engineer (they are system
 * tables), but a customer's `WHERE card = '4111-...'` comes back with them: the audit says so.
 */
export const QUERY_TEXT_TABLES: readonly string[] = [
  'system.query_log',
  'system.query_thread_log',
  'system.query_views_log',
  'system.processes',
  'system.processors_profile_log',
  'system.asynchronous_insert_log',
  'system.session_log',
];

/** What each finding row is, by the number in its first column (findingsSql). */
export const FINDING_CODES = { denied: 1, untagged: 2, otherGrant: 3, foreignTable: 4, outsideWindow: 5, queryText: 6 } as const;

/**
 * Every finding kind in one pass over the log, up to `limit` of each, oldest first: each row comes back once per
 * kind it is (arrayJoin over its kinds, numbered as FINDING_CODES), and LIMIT n BY keeps the first n of each. One
 * scan instead of one per kind: on 18.x reading the window and testing who sent it is most of each query's cost.
 * - denied: refused for rights or read-only mode;
 * - untagged / other grant: no valid byoc tag (a per-request user's too, and a `byoc-` query_id that names no
 *   request), or a `byoc_r_` user whose tag names another request than the one its name starts with (the client
 *   claimed a grant the server did not give this user). The second compares the user's prefix with the tag, with
 *   no regular expression over the user; byoc then keeps only users parseServerUser reads. A row is one or the other
 *   by whether it has a tag;
 * - foreign table: `tables` names anything outside system / information_schema (newer servers only: without the
 *   column byoc reads each query's text itself);
 * - outside window (with grants): attributed to a request (by its user, else by its tag) outside its approved
 *   window, or to a request with no known grant.
 * No subquery: old servers do not push a WHERE into one, and every finding would scan the whole log. LIMIT n BY
 * sorts every candidate row before it keeps n of each (as the tag findings' own query did): memory grows with the
 * rows that are findings, not with the log.
 */
export function findingsSql(schema: QueryLogSchema, filter: AuditFilter, options: { limit?: number; grants?: readonly GrantWindow[] | undefined } = {}): string {
  const claimsOtherGrant = `(substring(user, 1, 7) = 'byoc_r_' AND substring(user, 1, length(tag_request) + 6) != concat('byoc_r_', substring(tag_request, 3), '_'))`;
  const kinds: [number, string][] = [
    [FINDING_CODES.denied, deniedCondition(schema)],
    [FINDING_CODES.untagged, `tag_request = ''`],
    [FINDING_CODES.otherGrant, `(tag_request != '' AND ${claimsOtherGrant})`],
  ];
  // The same test as match(t, '^(system|information_schema|INFORMATION_SCHEMA)\\.'), as byte comparisons.
  if (schema.hasTables) kinds.push([FINDING_CODES.foreignTable, `arrayExists(t -> NOT (substring(t, 1, 7) = 'system.' OR substring(t, 1, 19) IN ('information_schema.', 'INFORMATION_SCHEMA.')), tables)`]);
  // Candidates only: the server names the tables, the query's text (query-text.ts) which of their columns were read.
  if (schema.hasTables) kinds.push([FINDING_CODES.queryText, `hasAny(tables, [${QUERY_TEXT_TABLES.map(quote).join(', ')}])`]);
  if (options.grants) {
    const inside = options.grants.map((grant) => `(request_id = ${quote(grant.requestId)} AND event_time >= toDateTime(${Math.floor(grant.from)}) AND event_time <= toDateTime(${Math.ceil(grant.to)}))`);
    kinds.push([FINDING_CODES.outsideWindow, `(request_id != ''${inside.length ? ` AND NOT (${inside.join(' OR ')})` : ''})`]);
  }
  return `${ATTRIBUTION}SELECT arrayJoin(arrayFilter(kind -> kind != 0, [${kinds.map(([code, condition]) => `if(${condition}, ${code}, 0)`).join(', ')}])) AS finding, ${rowColumns(schema)}
FROM ${sourceExpression(schema, filter.cluster)}
WHERE ${whereClause(schema, filter)}
  AND (${kinds.map(([, condition]) => condition).join('\n    OR ')})
ORDER BY event_time, query_id
LIMIT ${options.limit ?? 1000} BY finding`;
}

/** Every matching query, oldest first; `after` continues from a watermark (time, query_ids already seen at it). */
export function queryListSql(schema: QueryLogSchema, filter: AuditFilter, after?: { time: number; seen: readonly string[] }): string {
  const extra = after ? `event_time >= toDateTime(${after.time})${after.seen.length ? ` AND NOT (event_time = toDateTime(${after.time}) AND query_id IN (${after.seen.map(quote).join(', ')}))` : ''}` : '';
  return rowsSql(schema, filter, extra);
}

export function columnsSql(database: string, table: string): string {
  return `SELECT name, type FROM system.columns WHERE database = ${quote(database)} AND table = ${quote(table)}`;
}

/** Whether this server keeps system.session_log (20.x and later with it configured; never 18.x). */
export function sessionLogExistsSql(): string {
  return `SELECT count() FROM system.tables WHERE database = 'system' AND name = 'session_log'`;
}

/**
 * Failed logins of engineer users in the window, oldest first: the user --user-pattern marks or a per-request
 * user's name (the session log has no query_id, so no tag). `type` is compared as a number (LoginFailure is 0).
 * --engineer and --request are applied by byoc on these few rows.
 */
export function loginFailuresSql(filter: AuditFilter, limit: number): string {
  const literal = LITERAL_PREFIX.exec(filter.userPattern)?.[1];
  const perRequest = literal && PER_REQUEST_PREFIX.startsWith(literal) ? [] : [`substring(user, 1, 7) = ${quote(PER_REQUEST_PREFIX)}`];
  const source = filter.cluster ? `clusterAllReplicas(${quote(filter.cluster)}, system.session_log)` : 'system.session_log';
  return `SELECT toUnixTimestamp(event_time) AS time, toString(user) AS user, toString(client_address) AS address, toString(interface) AS interface, replaceRegexpAll(substring(toString(failure_reason), 1, 500), '[\\t\\n]', ' ') AS reason
FROM ${source}
WHERE event_date >= toDate(toDateTime(${Math.floor(filter.since)}))
  AND event_date <= toDate(toDateTime(${Math.ceil(filter.until)}))
  AND event_time >= toDateTime(${Math.floor(filter.since)})
  AND event_time < toDateTime(${Math.ceil(filter.until)})
  AND CAST(type, 'Int8') = 0
  AND (${[matches('toString(user)', filter.userPattern), ...perRequest.map((condition) => condition.replace('user', 'toString(user)'))].join(' OR ')})
ORDER BY event_time
LIMIT ${limit}`;
}

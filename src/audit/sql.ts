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

function whereClause(schema: QueryLogSchema, filter: AuditFilter): string {
  const conditions = [
    `event_date >= toDate(toDateTime(${Math.floor(filter.since)}))`,
    `event_date <= toDate(toDateTime(${Math.ceil(filter.until)}))`,
    `event_time >= toDateTime(${Math.floor(filter.since)})`,
    `event_time < toDateTime(${Math.ceil(filter.until)})`,
    COMPLETED,
    // A per-request user is an engineer whatever --user-pattern says: a narrower pattern must not hide its untagged
    // or mis-tagged queries. By prefix, not by user_request: that would run the user's regular expression on every
    // row in the window even for the findings that keep a few rows.
    `(match(user, ${quote(filter.userPattern)}) OR substring(user, 1, 7) = 'byoc_r_' OR query_id LIKE 'byoc-%')`,
  ];
  if (filter.engineers?.length) conditions.push(engineerCondition(filter.engineers));
  if (filter.requestId) conditions.push(`request_id = ${quote(filter.requestId)}`);
  return conditions.join('\n  AND ');
}

const EXCEPTION = `CAST(type, 'Int8') IN (3, 4)`;
/** Refusals for rights or read-only mode, recognised by code in the text on every server version. */
const DENIED_CODES = '(164|497|516|192|193|194|195|291)';

function deniedCondition(schema: QueryLogSchema): string {
  // Where the server records the code, it is authoritative and far cheaper than a regular expression over
  // every row's exception text (old servers do not short-circuit AND).
  const refused = schema.hasExceptionCode
    ? `exception_code IN (164, 497, 516, 192, 193, 194, 195, 291)`
    : `match(exception, '^Code: ${DENIED_CODES}[^0-9]') OR match(exception, 'ACCESS_DENIED|Not enough privileges|readonly mode')`;
  return `(CAST(type, 'Int8') = 3 OR (${EXCEPTION} AND (${refused})))`;
}

/** Per user and tag: byoc names the request and the engineer from the user (see ATTRIBUTION). */
export function summarySql(schema: QueryLogSchema, filter: AuditFilter): string {
  return `${ATTRIBUTION}SELECT user, tag_request,
  toUnixTimestamp(min(event_time)) AS first, toUnixTimestamp(max(event_time)) AS last,
  count() AS queries, countIf(${EXCEPTION}) AS failures, countIf(${deniedCondition(schema)}) AS denied,
  sum(read_rows) AS read_rows, sum(read_bytes) AS read_bytes
FROM ${sourceExpression(schema, filter.cluster)}
WHERE ${whereClause(schema, filter)}
GROUP BY user, tag_request
ORDER BY user, tag_request`;
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

/** No subquery: old servers do not push a WHERE into one, and every finding would scan the whole log. `by`: LIMIT n BY (18.x has it). */
function rowsSql(schema: QueryLogSchema, filter: AuditFilter, extra: string, limit?: number, by?: string): string {
  return `${ATTRIBUTION}SELECT ${rowColumns(schema)}
FROM ${sourceExpression(schema, filter.cluster)}
WHERE ${whereClause(schema, filter)}${extra ? `\n  AND ${extra}` : ''}
ORDER BY event_time, query_id${limit ? `\nLIMIT ${limit}${by ? ` BY ${by}` : ''}` : ''}`;
}

export function deniedSql(schema: QueryLogSchema, filter: AuditFilter, limit = 1000): string {
  return rowsSql(schema, filter, deniedCondition(schema), limit);
}

/** Rows whose `tables` name anything outside system / information_schema (newer servers only). */
export function foreignTablesSql(schema: QueryLogSchema, filter: AuditFilter, limit = 1000): string {
  return rowsSql(schema, filter, `arrayExists(t -> NOT match(t, '^(system|information_schema|INFORMATION_SCHEMA)\\\\.'), tables)`, limit);
}

/**
 * Tag findings in one pass over the log: queries with no valid byoc tag (`untagged`, a per-request user's too, and a
 * `byoc-` query_id that names no request), and queries by a `byoc_r_` user whose tag names another request than the
 * one its name starts with (`tag-mismatch`: the client claimed a grant the server did not give this user). The
 * second part compares the user's prefix with the tag, with no regular expression over the user; byoc then keeps
 * only users parseServerUser reads. Up to `limit` of each: a row is one or the other by whether it has a tag.
 */
export function tagFindingsSql(schema: QueryLogSchema, filter: AuditFilter, limit = 1000): string {
  const claimsOtherGrant = `(substring(user, 1, 7) = 'byoc_r_' AND substring(user, 1, length(tag_request) + 6) != concat('byoc_r_', substring(tag_request, 3), '_'))`;
  return rowsSql(schema, filter, `(tag_request = '' OR ${claimsOtherGrant})`, limit, `tag_request = ''`);
}

export interface GrantWindow {
  requestId: string;
  /** Unix seconds */
  from: number;
  /** Unix seconds */
  to: number;
}

/** Queries attributed to a request (by its user, else by its tag) outside its approved window, or to a request with no known grant. */
export function outsideWindowsSql(schema: QueryLogSchema, filter: AuditFilter, grants: readonly GrantWindow[], limit = 1000): string {
  const inside = grants.map((grant) => `(request_id = ${quote(grant.requestId)} AND event_time >= toDateTime(${Math.floor(grant.from)}) AND event_time <= toDateTime(${Math.ceil(grant.to)}))`);
  const condition = `request_id != ''${inside.length ? ` AND NOT (${inside.join(' OR ')})` : ''}`;
  return rowsSql(schema, filter, condition, limit);
}

/** Every matching query, oldest first; `after` continues from a watermark (time, query_ids already seen at it). */
export function queryListSql(schema: QueryLogSchema, filter: AuditFilter, after?: { time: number; seen: readonly string[] }): string {
  const extra = after ? `event_time >= toDateTime(${after.time})${after.seen.length ? ` AND NOT (event_time = toDateTime(${after.time}) AND query_id IN (${after.seen.map(quote).join(', ')}))` : ''}` : '';
  return rowsSql(schema, filter, extra);
}

export function columnsSql(database: string, table: string): string {
  return `SELECT name, type FROM system.columns WHERE database = ${quote(database)} AND table = ${quote(table)}`;
}

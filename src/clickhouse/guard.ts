/**
 * The client-side SQL guard: the first of three defences (then the server's readonly settings,
 * then its grants) that keep byoc to read-only queries on ClickHouse system tables.
 *
 * Policy (DESIGN.md, "ClickHouse queries"):
 * - exactly one SELECT / WITH / SHOW / DESCRIBE / EXPLAIN / EXISTS statement;
 * - every table reference names the database `system`, `information_schema` or
 *   `INFORMATION_SCHEMA` explicitly (database names are case-sensitive, as in ClickHouse);
 *   an unqualified name is a table of the current database unless it is a CTE of the query;
 * - table functions only from a small allowlist of generators;
 * - no function that reads customer data (dictionaries, Join tables, files);
 * - no INTO OUTFILE, no query parameters, and SETTINGS only from an allowlist of limits;
 * - anything the parser does not understand is refused.
 *
 * Allowlists rather than deny lists wherever the set is open-ended, so a ClickHouse release that
 * adds a table function or setting does not widen what byoc lets through.
 */
import { CURRENT_DIALECT, LEGACY_DIALECT, lex, NO_HEREDOC_DIALECT, significant, type Dialect, type Token } from './lexer.js';
import {
  ParseError,
  parseStatement,
  READ_STATEMENTS,
  RefusalSignal,
  type Finding,
  type NamePart,
  type TableReference,
} from './parser.js';

export interface GuardVerdict {
  allowed: boolean;
  /** A sentence for the user: what was checked, or exactly why the query was refused. */
  reason: string;
  /** Every table reference found, as `db.table` (unqualified ones as `table`). */
  tables: string[];
  /** The statement kind (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS, or the refused one). */
  kind?: string;
}

/** Databases byoc may read. Both spellings of information_schema exist in ClickHouse. */
const ALLOWED_DATABASES: readonly string[] = ['system', 'information_schema', 'INFORMATION_SCHEMA'];

/**
 * Table functions that only generate data. `values` is literal data written in the query.
 * `generateRandom` is harmless too, but no diagnostic needs it, so it stays out.
 */
export const ALLOWED_TABLE_FUNCTIONS: readonly string[] = [
  'numbers',
  'numbers_mt',
  'zeros',
  'zeros_mt',
  'generate_series',
  'generateSeries',
  'values',
];

/**
 * Settings a query may set: limits that only make it cheaper or safer, plus
 * allow_introspection_functions, which system.trace_log diagnostics need to turn addresses into
 * symbols (it exposes the server binary, not customer data). Everything else is refused, naming
 * the setting: readonly, allow_ddl, log_queries, log_comment (byoc sets the audit tag itself)...
 */
export const ALLOWED_SETTINGS: readonly string[] = [
  'max_execution_time',
  'max_result_rows',
  'max_result_bytes',
  'max_rows_to_read',
  'max_bytes_to_read',
  'max_memory_usage',
  'max_threads',
  'max_block_size',
  'max_rows_to_group_by',
  'result_overflow_mode',
  'read_overflow_mode',
  'timeout_overflow_mode',
  'group_by_overflow_mode',
  'allow_introspection_functions',
];

/** Options of EXPLAIN itself (EXPLAIN PLAN indexes = 1 ...): they shape the output only. */
const ALLOWED_EXPLAIN_OPTIONS: readonly string[] = [
  'header',
  'description',
  'indexes',
  'projections',
  'actions',
  'json',
  'sorting',
  'keep_logical_steps',
  'distributed',
  'optimize',
  'graph',
  'compact',
  'oneline',
  'run_passes',
  'dump_passes',
  'passes',
  'dump_tree',
  'dump_ast',
  'run_query_tree_passes',
  'query_tree_passes',
];

const ALLOWED_KINDS_SENTENCE = 'byoc runs read-only SELECT, WITH, SHOW, DESCRIBE, EXPLAIN and EXISTS statements only';
const SYSTEM_ONLY = 'byoc reads system tables only';

const allowedTableFunctions = new Set(ALLOWED_TABLE_FUNCTIONS.map((name) => name.toLowerCase()));
const allowedSettings = new Set(ALLOWED_SETTINGS);
const allowedExplainOptions = new Set(ALLOWED_EXPLAIN_OPTIONS);

/** Table functions that reach other servers: named separately because the reason differs. */
const CROSS_NODE_TABLE_FUNCTIONS = new Set(['remote', 'remotesecure', 'cluster', 'clusterallreplicas']);

/**
 * Table functions that also exist (or could be mistaken) as ordinary functions reading outside
 * system tables. Compared case-insensitively: being conservative costs nothing here.
 */
const DATA_READING_FUNCTIONS = new Map<string, string>([
  ['joinget', 'reads a Join table, which holds customer data'],
  ['joingetornull', 'reads a Join table, which holds customer data'],
  ['file', 'reads a file on the server'],
  ['url', 'reads a URL from the server'],
  ['s3', 'reads object storage'],
  ['s3cluster', 'reads object storage'],
  ['gcs', 'reads object storage'],
  ['azureblobstorage', 'reads object storage'],
  ['hdfs', 'reads HDFS'],
  ['remote', 'reads another server'],
  ['remotesecure', 'reads another server'],
  ['cluster', 'reads other servers of the cluster'],
  ['clusterallreplicas', 'reads other servers of the cluster'],
  ['merge', 'reads tables matched by a pattern'],
  ['view', 'runs a subquery as a table'],
  ['executable', 'runs a program on the server'],
  ['mysql', 'reads an external database'],
  ['postgresql', 'reads an external database'],
  ['sqlite', 'reads an external database'],
  ['jdbc', 'reads an external database'],
  ['odbc', 'reads an external database'],
  ['mongodb', 'reads an external database'],
  ['redis', 'reads an external database'],
  ['input', 'reads inserted data'],
  ['dictionary', 'reads a dictionary, which may hold customer data'],
  ['hascolumnintable', 'inspects a customer table and can connect to another server'],
  ['catboostevaluate', 'reads a model file on the server'],
  ['modelevaluate', 'reads a model file on the server'],
]);

/**
 * Functions with side effects on the server, refused on top of the table and data rules above.
 * Each entry says what it changes. Reviewed against ClickHouse's function list (src/Functions); the
 * near misses stay allowed on purpose:
 * - sleep / sleepEachRow only cost time, capped by the server (3 s per block) and by the
 *   max_execution_time byoc sends with every query;
 * - throwIf, generateSnowflakeID, generateUUIDv7, rand* and initializeAggregation change nothing
 *   outside the query (the ID generators keep an in-process counter only);
 * - addressToSymbol / addressToLine / demangle read the server binary and need
 *   allow_introspection_functions, which trace_log diagnostics set;
 * - file, url, joinGet, dictGet and the table functions are refused elsewhere as data reads.
 */
const SIDE_EFFECT_FUNCTIONS = new Map<string, string>([
  // src/Functions/generateSerialID.cpp: each call increments a named series counter in Keeper.
  ['generateserialid', 'increments a counter in ClickHouse Keeper, a write that outlives the query'],
  // src/Functions/logTrace.cpp: writes its argument to the server log (and system.text_log).
  ['logtrace', "writes a message into the server's log"],
  // src/Functions/trap.cpp: a debugging aid that can abort or hang the server process.
  ['trap', 'can crash or hang the server (a debugging aid)'],
]);

/** The function form of IN (in, notIn, globalNullIn, ...): its table argument would go unchecked. */
const IN_FUNCTION = /^(global)?(not)?(null)?in(ignoreset)?$/;

/** Checks one query against the read-only system-table policy. Never throws. */
export function checkQuery(sql: string): GuardVerdict {
  try {
    const current = analyse(sql, CURRENT_DIALECT);
    if (!current.verdict.allowed || current.ambiguous === undefined) return current.verdict;
    // The query relies on a heredoc or a nested comment, which older servers split differently.
    // It must be acceptable under every reading a server could give it.
    for (const dialect of [NO_HEREDOC_DIALECT, LEGACY_DIALECT]) {
      const other = lex(sql, dialect);
      if (other.error) continue; // that server rejects the text outright
      const verdict = analyseTokens(other.tokens, true).verdict;
      if (!verdict.allowed) {
        const detail = verdict.reason.replace(/^refused: /, '');
        return {
          ...verdict,
          tables: mergeTables(current.verdict.tables, verdict.tables),
          reason: `refused: older ClickHouse versions read the ${current.ambiguous} in this query differently, and read that way ${detail}`,
        };
      }
    }
    return current.verdict;
  } catch (error) {
    // A bug in the guard must refuse, never allow.
    return {
      allowed: false,
      reason: `refused: could not check the query (${error instanceof Error ? error.message : String(error)})`,
      tables: [],
    };
  }
}

/**
 * Best-effort table references in any SQL text (also INSERT, ALTER...), for the customer audit to
 * flag queries that named non-system tables. Never throws; linear in the text's length.
 */
export function extractTables(sql: string): string[] {
  try {
    const { tokens } = lex(sql);
    try {
      const { findings } = parseStatement(tokens);
      const structured = tableNames(findings);
      // A refusal (a second statement, say) may leave text the parser did not walk.
      return findings.some((finding) => finding.type === 'refusal') ? mergeTables(structured, scanTables(tokens)) : structured;
    } catch {
      return scanTables(tokens);
    }
  } catch {
    return [];
  }
}

interface Analysis {
  verdict: GuardVerdict;
  /** The construct older servers lex differently (heredoc, nested block comment), if any. */
  ambiguous: string | undefined;
}

function analyse(sql: string, dialect: Dialect): Analysis {
  const { tokens, error } = lex(sql, dialect);
  if (error) {
    return {
      verdict: {
        allowed: false,
        reason: `refused: could not parse the query: ${error.message} at offset ${error.offset}`,
        tables: scanTables(tokens),
      },
      ambiguous: undefined,
    };
  }
  return analyseTokens(tokens, false);
}

function analyseTokens(tokens: Token[], alternativeReading: boolean): Analysis {
  const heredoc = tokens.some((token) => token.kind === 'heredoc');
  const nested = tokens.some((token) => token.kind === 'comment' && token.text.startsWith('/*') && token.text.indexOf('/*', 2) >= 0);
  const ambiguous =
    heredoc && nested ? 'heredoc ($$...$$) and nested /* comment */' : heredoc ? 'heredoc ($$...$$)' : nested ? 'nested /* comment */' : undefined;
  const first = tokens.find((token) => token.kind !== 'whitespace' && token.kind !== 'comment');
  if (!first) {
    return { verdict: { allowed: false, reason: `refused: the query is empty; ${ALLOWED_KINDS_SENTENCE}`, tables: [] }, ambiguous };
  }
  const firstWord = first.kind === 'word' ? first.text.toUpperCase() : undefined;
  if (firstWord !== undefined && !(READ_STATEMENTS as readonly string[]).includes(firstWord)) {
    return {
      verdict: {
        allowed: false,
        reason: `refused: ${firstWord} statements are not allowed; ${ALLOWED_KINDS_SENTENCE}`,
        tables: scanTables(tokens),
        kind: firstWord,
      },
      ambiguous,
    };
  }
  const kind = firstWord === 'DESC' ? 'DESCRIBE' : (firstWord ?? (first.text === '(' ? 'SELECT' : undefined));

  let findings: Finding[];
  let failure: { reason: string; offset: number } | undefined;
  try {
    findings = parseStatement(tokens).findings;
  } catch (error) {
    if (error instanceof RefusalSignal) {
      findings = error.findings;
      failure = { reason: error.reason, offset: error.offset };
    } else if (error instanceof ParseError) {
      const tables = mergeTables(tableNames(error.findings), scanTables(tokens));
      const prefix = alternativeReading ? 'it could not be checked' : 'could not parse the query';
      return {
        verdict: {
          allowed: false,
          reason: `refused: ${prefix}: ${error.message} at offset ${error.offset}; byoc only runs queries it can check`,
          tables,
          kind,
        },
        ambiguous,
      };
    } else {
      throw error;
    }
  }

  const tables = tableNames(findings);
  const violations = findings
    .map((finding) => ({ reason: violation(finding), offset: finding.start }))
    .filter((entry): entry is { reason: string; offset: number } => entry.reason !== undefined);
  if (failure) violations.push(failure);
  violations.sort((a, b) => a.offset - b.offset);
  const firstViolation = violations[0];
  if (firstViolation) {
    return { verdict: { allowed: false, reason: `refused: ${firstViolation.reason}`, tables, kind }, ambiguous };
  }
  const on = tables.length > 0 ? ` (${tables.join(', ')})` : '';
  return { verdict: { allowed: true, reason: `read-only ${kind} query on system tables${on}`, tables, kind }, ambiguous };
}

function isAllowedDatabase(part: NamePart): boolean {
  return !part.escaped && ALLOWED_DATABASES.includes(part.name);
}

function violation(finding: Finding): string | undefined {
  switch (finding.type) {
    case 'table':
      return tableViolation(finding.ref);
    case 'tableFunction':
      if (CLUSTER_TABLE_FUNCTIONS.has(finding.name.toLowerCase())) return clusterViolation(finding);
      return tableFunctionViolation(finding.name);
    case 'function':
      return functionViolation(finding.name);
    case 'setting':
      if (allowedSettings.has(finding.name)) return undefined;
      return `the setting ${finding.name} cannot be changed; a query may set only these limits: ${ALLOWED_SETTINGS.join(', ')}`;
    case 'explainOption':
      if (allowedExplainOptions.has(finding.name)) return undefined;
      return `${finding.name} is not an EXPLAIN option byoc knows; allowed: ${ALLOWED_EXPLAIN_OPTIONS.join(', ')}`;
    case 'database':
      if (isAllowedDatabase(finding.database)) return undefined;
      return `${finding.context} names the database ${displayPart(finding.database)}, not system or information_schema; ${SYSTEM_ONLY}`;
    case 'refusal':
      return finding.reason;
  }
}

function tableViolation(ref: TableReference): string | undefined {
  if (ref.database) {
    if (isAllowedDatabase(ref.database)) return undefined;
    const name = displayTable(ref);
    if (ref.database.escaped) {
      return `${name} spells its database with a backslash escape, which byoc does not trust to mean a system database; write system or information_schema plainly`;
    }
    if (ALLOWED_DATABASES.some((db) => db.toLowerCase() === ref.database!.name.toLowerCase())) {
      return `${name} is not in the system or information_schema database (database names are case-sensitive: write ${ref.database.name.toLowerCase()}); ${SYSTEM_ONLY}`;
    }
    return `${name} is not in the system or information_schema database; ${SYSTEM_ONLY}`;
  }
  const table = ref.table;
  if (table.name.includes('.')) {
    const [db] = table.name.split('.');
    return `${displayPart(table)} is one quoted name, a table in the current database, not a table of ${db}; quote the database and the table separately (e.g. \`system\`.\`tables\`)`;
  }
  return `${displayPart(table)} has no database, so it names a table of the current database; ${SYSTEM_ONLY} (if you meant the system table, write system.${displayPart(table)})`;
}

/**
 * cluster() and clusterAllReplicas() read one table on every node of a cluster. A replicated
 * deployment keeps its system tables per node, so reading them everywhere is the point; the
 * table named inside must be a system table (or a view() whose subquery reads only system tables,
 * checked like any other subquery). Each node applies the same user's readonly setting and grants.
 */
const CLUSTER_TABLE_FUNCTIONS = new Set(['cluster', 'clusterallreplicas']);

function clusterViolation(finding: Extract<Finding, { type: 'tableFunction' }>): string | undefined {
  const { name, tables } = finding;
  const usage = `${name}() is allowed over system tables only, e.g. ${name}('default', system.query_log)`;
  if (finding.view === true) return undefined;
  if (finding.generator !== undefined) {
    return allowedTableFunctions.has(finding.generator.toLowerCase()) ? undefined : tableFunctionViolation(finding.generator);
  }
  if (tables.length === 0) return `${name}() names no table byoc can check; ${usage}`;
  for (const ref of tables) {
    const problem = tableViolation(ref);
    if (problem) return `${name}() reads ${displayTable(ref)} on every node: ${problem}`;
  }
  return undefined;
}

function tableFunctionViolation(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (allowedTableFunctions.has(lower)) return undefined;
  const allowed = `byoc allows only the generators ${ALLOWED_TABLE_FUNCTIONS.join(', ')}`;
  if (CROSS_NODE_TABLE_FUNCTIONS.has(lower)) {
    return `table function ${name}() is not allowed: it reads other servers, which byoc cannot check; query each server through its own endpoint (${allowed})`;
  }
  const what = DATA_READING_FUNCTIONS.get(lower);
  return `table function ${name}() is not allowed${what ? ` (it ${what})` : ''}; ${allowed}`;
}

function functionViolation(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (lower.startsWith('dict')) {
    return `${name}() reads a dictionary, which may hold customer data; ${SYSTEM_ONLY} (system.dictionaries describes dictionaries without reading them)`;
  }
  if (IN_FUNCTION.test(lower)) {
    return `the function form ${name}(...) of IN is not allowed; write the IN operator with a subquery on a system table`;
  }
  const effect = SIDE_EFFECT_FUNCTIONS.get(lower);
  if (effect) return `${name}() ${effect}; byoc runs queries without side effects only`;
  const what = DATA_READING_FUNCTIONS.get(lower);
  if (what) return `${name}() ${what}; ${SYSTEM_ONLY}`;
  return undefined;
}

const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function displayPart(part: NamePart): string {
  if (part.escaped) return part.source;
  return PLAIN_NAME.test(part.name) ? part.name : `\`${part.name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

function displayTable(ref: TableReference): string {
  return ref.database ? `${displayPart(ref.database)}.${displayPart(ref.table)}` : displayPart(ref.table);
}

function tableNames(findings: readonly Finding[]): string[] {
  const names: string[] = [];
  for (const finding of findings) {
    if (finding.type === 'table') names.push(displayTable(finding.ref));
    else if (finding.type === 'tableFunction') names.push(...finding.tables.map(displayTable));
  }
  return [...new Set(names)];
}

function mergeTables(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}

/**
 * The fallback for text the parser does not accept (INSERT, ALTER, broken SQL): a single pass
 * that takes the name after FROM, JOIN, INTO, IN and DDL's TABLE, and after commas in a FROM.
 */
function scanTables(allTokens: readonly Token[]): string[] {
  const tokens = allTokens.filter((token) => token.kind !== 'whitespace' && token.kind !== 'comment');
  const names: string[] = [];
  const upper = (index: number): string => {
    const token = tokens[index];
    return token?.kind === 'word' ? token.text.toUpperCase() : '';
  };
  const isName = (index: number): boolean =>
    tokens[index]?.kind === 'quoted' || (tokens[index]?.kind === 'word' && !SCAN_KEYWORDS.has(upper(index)));
  const part = (index: number): NamePart => {
    const token = tokens[index]!;
    return token.kind === 'quoted'
      ? { name: token.value ?? '', source: token.text, escaped: token.escaped === true }
      : { name: token.text, source: token.text, escaped: false };
  };
  /**
   * Reads a (db.)table name at index; returns the index after it, or undefined. With
   * `columnList`, a parenthesis after the name is INSERT's column list, not a function call.
   */
  const readName = (index: number, columnList = false): number | undefined => {
    if (!isName(index)) return undefined;
    const parts = [part(index)];
    let at = index + 1;
    if (tokens[at]?.text === '.' && (tokens[at + 1]?.kind === 'word' || tokens[at + 1]?.kind === 'quoted')) {
      parts.push(part(at + 1));
      at += 2;
    }
    if ((tokens[at]?.text === '(' && !columnList) || tokens[at]?.text === '.') return undefined; // a function, or a.b.c
    const ref: TableReference =
      parts.length === 2 ? { database: parts[0]!, table: parts[1]!, start: 0 } : { table: parts[0]!, start: 0 };
    names.push(displayTable(ref));
    return at;
  };
  for (let i = 0; i < tokens.length; i++) {
    const word = upper(i);
    let at = i + 1;
    if (word === 'TABLE') {
      if (!DDL_BEFORE_TABLE.has(upper(i - 1))) continue;
    } else if (word === 'IN') {
      if (tokens[at]?.text === '(' || ['TABLES', 'DICTIONARIES', 'DATABASES'].includes(upper(i - 1))) continue;
    } else if (word !== 'FROM' && word !== 'JOIN' && word !== 'INTO') {
      continue;
    }
    let tableFunction = false;
    while (SCAN_SKIP.has(upper(at))) tableFunction ||= upper(at++) === 'FUNCTION';
    if (tableFunction) continue;
    let after = readName(at, word === 'INTO' || word === 'TABLE');
    // FROM a [AS] x, b, c: comma joins.
    while (word === 'FROM' && after !== undefined) {
      if (upper(after) === 'AS') after += 2;
      else if (isName(after)) after += 1;
      if (tokens[after]?.text !== ',') break;
      after = readName(after + 1);
    }
  }
  return [...new Set(names)];
}

const SCAN_SKIP = new Set(['TABLE', 'FUNCTION', 'IF', 'NOT', 'EXISTS', 'TEMPORARY', 'ONLY', 'DICTIONARY', 'VIEW']);
const DDL_BEFORE_TABLE = new Set(
  'CREATE ALTER DROP TRUNCATE OPTIMIZE EXISTS DESCRIBE DESC INTO ATTACH DETACH RENAME CHECK TEMPORARY REPLACE UNDROP EXCHANGE'.split(' '),
);
/** Words that are never a table name in the scan (they start the next clause). */
const SCAN_KEYWORDS = new Set(
  (
    'SELECT WITH VALUES FORMAT SETTINGS WHERE PREWHERE GROUP ORDER LIMIT HAVING WINDOW QUALIFY JOIN INNER LEFT RIGHT ' +
    'FULL CROSS ANY ALL ASOF SEMI ANTI ARRAY GLOBAL LOCAL FINAL SAMPLE ON USING UNION EXCEPT INTERSECT INTO OUTFILE ' +
    'FROM AS TABLE FUNCTION IF NOT EXISTS'
  ).split(' '),
);

/** Words that may follow a column named `format` (ORDER BY format DESC): never a format name. */
const NOT_FORMAT_NAMES = new Set(['ASC', 'ASCENDING', 'DESC', 'DESCENDING', 'NULLS', 'COLLATE', 'WITH', 'FROM', 'AS']);

/**
 * The output format a statement names in its closing `FORMAT <name>` (before or after a SETTINGS clause),
 * or undefined. Read from the tokens at bracket depth 0, so a FORMAT inside a subquery or string never counts;
 * for statements the guard allowed, where FORMAT can only close the statement.
 */
export function trailingFormat(sql: string): string | undefined {
  try {
    const tokens = significant(lex(sql).tokens);
    while (tokens.at(-1)?.text === ';') tokens.pop();
    let depth = 0;
    let found: string | undefined;
    tokens.forEach((token, index) => {
      if (token.kind === 'punct' && (token.text === '(' || token.text === '[')) depth++;
      else if (token.kind === 'punct' && (token.text === ')' || token.text === ']')) depth--;
      if (depth !== 0 || index === 0 || token.kind !== 'word' || token.text.toUpperCase() !== 'FORMAT') return;
      const name = tokens[index + 1];
      const after = tokens[index + 2];
      if (!name || (name.kind !== 'word' && name.kind !== 'quoted') || NOT_FORMAT_NAMES.has(name.text.toUpperCase())) return;
      if (after && !(after.kind === 'word' && after.text.toUpperCase() === 'SETTINGS')) return;
      found = name.kind === 'quoted' ? (name.value ?? name.text) : name.text;
    });
    return found;
  } catch {
    return undefined;
  }
}

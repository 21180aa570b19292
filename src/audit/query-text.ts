import { lex, LEGACY_DIALECT, significant, type Token } from '../clickhouse/lexer.js';
import { extractTables } from '../clickhouse/guard.js';
import { QUERY_TEXT_TABLES } from './sql.js';

/** Columns that hold a query's text (normalized_query_hash is a number: no text comes back through it). */
const TEXT_COLUMNS = new Set(['query', 'formatted_query', 'initial_query']);

/** Where a `*` means "every column" rather than a product: after SELECT, DISTINCT, `,` or `t.`. */
const STAR_AFTER = new Set(['SELECT', 'DISTINCT', ',', '.']);

export interface QueryTextRead {
  /** the query-bearing system tables the query named */
  tables: string[];
  /** the text columns it referenced, `*` for every column */
  columns: string[];
}

/**
 * Whether a query read other users' query texts: it names a table of QUERY_TEXT_TABLES and references one of their
 * text columns or `*`. Read from the SQL guard's lexer and table extractor, never a regular expression over the SQL:
 * the word `query` inside a string literal or a comment, or a table name in a string, must not count, and a
 * quoted `"query"` must. 18.x keeps no `tables` column, so the text is the only record of what was read. A column
 * is matched by name in any clause: filtering on the text (WHERE query LIKE '%4111%') reads it as surely as
 * selecting it. Returns undefined when the query read no query text.
 */
export function queryTextRead(text: string): QueryTextRead | undefined {
  const tables = extractTables(text)
    .filter((table) => QUERY_TEXT_TABLES.includes(table.toLowerCase()));
  if (!tables.length) return undefined;
  // The legacy dialect is the server-agnostic choice here: the guard's extractor already decided the tables.
  const tokens = significant(lex(text, LEGACY_DIALECT).tokens);
  const columns = new Set<string>();
  tokens.forEach((token, index) => {
    const name = nameOf(token);
    if (name && TEXT_COLUMNS.has(name) && !isCall(tokens[index + 1])) columns.add(name);
    if (token.text === '*' && isEveryColumn(tokens, index)) columns.add('*');
    // COLUMNS('regexp') picks columns by a pattern the server matches: byoc cannot tell it leaves the text out
    if (name === 'columns' && isCall(tokens[index + 1])) columns.add('*');
  });
  return columns.size ? { tables: [...new Set(tables.map((table) => table.toLowerCase()))], columns: [...columns] } : undefined;
}

/** `*` as every column: after SELECT, DISTINCT, `,` or `t.`, or as a function's argument (tuple(*)) other than count(*). */
function isEveryColumn(tokens: readonly Token[], index: number): boolean {
  const before = (tokens[index - 1]?.text ?? '').toUpperCase();
  if (STAR_AFTER.has(before)) return true;
  return before === '(' && (tokens[index - 2]?.kind === 'word' || tokens[index - 2]?.kind === 'quoted') && nameOf(tokens[index - 2]!) !== 'count';
}

function nameOf(token: Token): string | undefined {
  if (token.kind === 'word') return token.text.toLowerCase();
  if (token.kind === 'quoted') return (token.value ?? '').toLowerCase();
  return undefined;
}

/** `query(` would be a function of that name, not the column. */
function isCall(next: Token | undefined): boolean {
  return next?.text === '(';
}

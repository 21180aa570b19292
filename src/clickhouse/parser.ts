/**
 * A structural parser for the read-only subset of ClickHouse SQL. It does not build a full tree:
 * it walks the statement the way the server would and records every fact the guard's policy
 * needs (table references, table functions, functions, settings, databases), with offsets.
 *
 * It is deliberately strict: whatever it does not recognise is a ParseError, and the guard
 * refuses the query. Being looser than the server would risk reading a table reference as
 * something harmless; being stricter only refuses an unusual query.
 */
import { significant, type Token } from './lexer.js';

export interface NamePart {
  name: string;
  /** The name as written (quotes and escapes included), for messages. */
  source: string;
  /** Quoted with a backslash escape: never trusted to match a permitted database. */
  escaped: boolean;
}

export interface TableReference {
  database?: NamePart;
  table: NamePart;
  start: number;
}

export type Finding =
  | { type: 'table'; ref: TableReference; start: number }
  | { type: 'tableFunction'; name: string; start: number; tables: TableReference[]; view?: boolean; generator?: string }
  | { type: 'function'; name: string; start: number }
  | { type: 'setting'; name: string; start: number }
  | { type: 'explainOption'; name: string; start: number }
  | { type: 'database'; database: NamePart; start: number; context: string }
  | { type: 'refusal'; reason: string; start: number };

export interface ParsedStatement {
  /** SELECT, WITH, SHOW, DESCRIBE, EXPLAIN or EXISTS. */
  kind: string;
  findings: Finding[];
}

export class ParseError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    /** Findings recorded before the error, for best-effort table extraction. */
    readonly findings: Finding[] = [],
  ) {
    super(message);
    this.name = 'ParseError';
  }
}

/** Statement kinds the parser understands; everything else is refused before parsing. */
export const READ_STATEMENTS = ['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'EXISTS'] as const;

/** Words that end an expression or a list, so they are never taken as an alias without AS. */
const RESERVED = new Set(
  (
    'SELECT FROM WHERE PREWHERE GROUP HAVING ORDER LIMIT OFFSET FETCH SETTINGS FORMAT UNION EXCEPT INTERSECT ' +
    'INTO WINDOW QUALIFY JOIN INNER LEFT RIGHT FULL CROSS OUTER ANY ALL ASOF SEMI ANTI PASTE GLOBAL LOCAL ARRAY ' +
    'ON USING FINAL SAMPLE AS AND OR NOT IN IS LIKE ILIKE BETWEEN WITH ASC DESC ASCENDING DESCENDING NULLS ' +
    'COLLATE BY CASE WHEN THEN ELSE END OVER DISTINCT INTERPOLATE TOP REGEXP DIV MOD FILTER RESPECT IGNORE ' +
    'EXPLAIN'
  ).split(' '),
);

/**
 * Clause words that can never start an operand (`SELECT from` would otherwise read as a column).
 * SETTINGS and FORMAT are missing on purpose: query_log has a column named Settings.
 */
const NOT_AN_OPERAND = new Set(
  (
    'SELECT FROM WHERE PREWHERE GROUP HAVING ORDER LIMIT OFFSET UNION EXCEPT INTERSECT INTO ' +
    'JOIN ON USING WITH QUALIFY WINDOW EXPLAIN'
  ).split(' '),
);

/**
 * Clause words that real system tables and EXPLAIN output also use as column names (system.time_zones'
 * offset, `SELECT explain FROM (EXPLAIN ...)`). In an operand position they are a column when what
 * follows cannot continue the clause (a comma, a closing parenthesis, an operator, FROM, AS ...).
 */
const SOFT_KEYWORDS = new Set(['OFFSET', 'LIMIT', 'WINDOW', 'QUALIFY', 'EXPLAIN']);

/** After a soft keyword these still start the clause's operand (`LIMIT ALL`, `OFFSET NULL`...) or a query. */
const NOT_AN_OPERAND_AFTER_SOFT = new Set(['SELECT', 'WITH', 'ALL', 'DISTINCT', 'NOT', 'CASE', 'EXPLAIN']);

/** Literal words that are values, not names, inside `x IN (...)`. */
const LITERAL_WORDS = new Set(['NULL', 'TRUE', 'FALSE', 'INF', 'NAN']);

/**
 * Ordinary functions that build a set of values on the right of IN. No table function has these
 * names, so the server evaluates them as expressions; any other call there is taken as a table.
 */
const IN_VALUE_FUNCTIONS = new Set(
  'tuple array if multiif nullif ifnull coalesce range arraymap arrayfilter arrayconcat arraydistinct arrayslice arraysort splitbychar splitbystring'.split(
    ' ',
  ),
);

/** Table functions that read the same table on other nodes; allowed over system tables only. */
const CLUSTER_FUNCTIONS = new Set(['cluster', 'clusterallreplicas']);

/** Words that may not appear among the names of an access-entity SHOW (they would start a clause). */
const SHOW_TAIL_STOP_WORDS = new Set(
  'SELECT WITH FROM IN JOIN UNION EXCEPT INTERSECT INTO FORMAT SETTINGS LIMIT WHERE LIKE ILIKE NOT EXPLAIN'.split(' '),
);

const JOIN_MODIFIERS = new Set('GLOBAL LOCAL ANY ALL ASOF SEMI ANTI INNER LEFT RIGHT FULL OUTER CROSS PASTE'.split(' '));
const WINDOW_WORDS = new Set(
  'PARTITION BY ORDER ROWS RANGE GROUPS BETWEEN AND UNBOUNDED PRECEDING FOLLOWING CURRENT ROW ASC DESC ASCENDING DESCENDING NULLS FIRST LAST'.split(
    ' ',
  ),
);
const INTERVAL_UNITS = new Set(
  'NANOSECOND MICROSECOND MILLISECOND SECOND MINUTE HOUR DAY WEEK MONTH QUARTER YEAR'.split(' ').flatMap((unit) => [unit, `${unit}S`]),
);
const EXPLAIN_KINDS = new Set(['AST', 'SYNTAX', 'PLAN', 'PIPELINE', 'ESTIMATE', 'ANALYZE']);
/** Functions whose arguments ClickHouse also separates with FROM / FOR (SQL-standard forms). */
const KEYWORD_ARGUMENT_FUNCTIONS = new Set(['substring', 'substr', 'trim', 'overlay']);
/** Table functions whose arguments name a remote or local table, reported for the audit. */
const TABLE_ARGUMENT_FUNCTIONS = new Set(['remote', 'remotesecure']);

type Summary =
  | { kind: 'identifier'; parts: NamePart[]; start: number }
  | { kind: 'string'; value: string; escaped: boolean }
  | { kind: 'call'; name: string; start: number }
  | { kind: 'other' };

const OTHER: Summary = { kind: 'other' };

export function parseStatement(tokens: readonly Token[]): ParsedStatement {
  return new Parser(significant(tokens)).statement();
}

/**
 * Nesting deeper than this is refused rather than risking the call stack. Each parenthesis costs
 * about three levels, so this allows some 100 nested parentheses; diagnostics need far fewer.
 */
const MAX_DEPTH = 300;

class Parser {
  private pos = 0;
  private depth = 0;
  private readonly findings: Finding[] = [];
  /** Names of the CTEs (WITH name AS (subquery)) visible at each nesting level. */
  private readonly scopes: Set<string>[] = [];
  /** For each opening parenthesis, the index of its closing one. */
  private readonly closing = new Map<number, number>();

  constructor(private readonly tokens: Token[]) {
    const open: number[] = [];
    tokens.forEach((token, index) => {
      if (token.kind !== 'punct') return;
      if (token.text === '(') open.push(index);
      else if (token.text === ')') {
        const opener = open.pop();
        if (opener !== undefined) this.closing.set(opener, index);
      }
    });
  }

  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_DEPTH) throw this.error(`the query is nested more than ${MAX_DEPTH} levels deep`);
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  // ---- token helpers -------------------------------------------------------------------------

  private peek(offset = 0): Token | undefined {
    return this.tokens[this.pos + offset];
  }

  private advance(): Token {
    const token = this.tokens[this.pos];
    if (!token) throw this.error('unexpected end of query');
    this.pos++;
    return token;
  }

  private offset(): number {
    return this.peek()?.start ?? this.tokens.at(-1)?.end ?? 0;
  }

  private error(message: string, offset = this.offset()): ParseError {
    return new ParseError(message, offset, this.findings);
  }

  private unexpected(): ParseError {
    const token = this.peek();
    if (!token) return this.error('unexpected end of query');
    const shown = token.text.length > 40 ? `${token.text.slice(0, 40)}...` : token.text;
    return this.error(`unexpected '${shown}'`);
  }

  private isWord(word: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token?.kind === 'word' && token.text.toUpperCase() === word;
  }

  private wordAt(offset = 0): string | undefined {
    const token = this.peek(offset);
    return token?.kind === 'word' ? token.text.toUpperCase() : undefined;
  }

  private isPunct(text: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token !== undefined && (token.kind === 'punct' || token.kind === 'operator') && token.text === text;
  }

  private acceptWord(word: string): boolean {
    if (!this.isWord(word)) return false;
    this.pos++;
    return true;
  }

  private acceptPunct(text: string): boolean {
    if (!this.isPunct(text)) return false;
    this.pos++;
    return true;
  }

  private expectWord(word: string): void {
    if (!this.acceptWord(word)) throw this.error(`expected ${word} but found ${this.describeNext()}`);
  }

  private expectPunct(text: string): void {
    if (!this.acceptPunct(text)) throw this.error(`expected '${text}' but found ${this.describeNext()}`);
  }

  private describeNext(): string {
    const token = this.peek();
    return token ? `'${token.text.slice(0, 40)}'` : 'the end of the query';
  }

  private isName(offset = 0): boolean {
    const kind = this.peek(offset)?.kind;
    return kind === 'word' || kind === 'quoted';
  }

  private namePart(): NamePart {
    const token = this.advance();
    if (token.kind === 'word') return { name: token.text, source: token.text, escaped: false };
    if (token.kind === 'quoted') {
      return { name: token.value ?? '', source: token.text, escaped: token.escaped === true };
    }
    this.pos--;
    throw this.error(`expected a name but found '${token.text}'`, token.start);
  }

  private startsQuery(offset = 0): boolean {
    return this.isWord('SELECT', offset) || this.isWord('WITH', offset);
  }

  private record(finding: Finding): void {
    this.findings.push(finding);
  }

  private queryParameter(): RefusalSignal {
    return new RefusalSignal(
      'query parameters ({name:Type}) and map literals are not supported; write the values into the query',
      this.offset(),
      this.findings,
    );
  }

  /** A soft keyword (OFFSET, EXPLAIN ...) at the cursor used as a column name. */
  private softKeywordOperand(): boolean {
    if (!SOFT_KEYWORDS.has(this.wordAt() ?? '')) return false;
    const next = this.peek(1);
    if (!next) return true;
    if (next.kind === 'operator') return next.text !== '(';
    if (next.kind === 'punct') return next.text === ',' || next.text === ')' || next.text === ';' || next.text === ']';
    if (next.kind !== 'word') return false;
    const word = next.text.toUpperCase();
    if (this.isWord('EXPLAIN') && (EXPLAIN_KINDS.has(word) || word === 'QUERY' || word === 'SELECT' || word === 'WITH')) return false;
    return RESERVED.has(word) && !NOT_AN_OPERAND_AFTER_SOFT.has(word);
  }

  /**
   * A name that refers to a CTE in scope. Escaped spellings never do: escape rules changed across
   * ClickHouse versions, and a server that decodes differently would read a real table instead.
   */
  private isCte(part: NamePart): boolean {
    return !part.escaped && this.scopes.some((scope) => scope.has(part.name));
  }

  // ---- statements ----------------------------------------------------------------------------

  statement(): ParsedStatement {
    const first = this.peek();
    if (!first) throw this.error('the query is empty', 0);
    let kind: string;
    const word = this.wordAt();
    if (word === 'SELECT' || word === 'WITH' || this.isPunct('(')) {
      kind = word ?? 'SELECT';
      this.selectUnion();
    } else if (word === 'SHOW') {
      kind = 'SHOW';
      this.show();
    } else if (word === 'DESCRIBE' || word === 'DESC') {
      kind = 'DESCRIBE';
      this.describe();
    } else if (word === 'EXPLAIN') {
      kind = 'EXPLAIN';
      this.explain();
    } else if (word === 'EXISTS') {
      kind = 'EXISTS';
      this.exists();
    } else {
      throw this.unexpected();
    }
    this.statementTail();
    // `\G` (vertical output in clickhouse-client) ends a statement like `;`.
    if (this.acceptPunct(';') || this.acceptPunct('\\G')) {
      if (this.peek()) {
        this.record({
          type: 'refusal',
          reason:
            'the text holds more than one statement; byoc runs exactly one statement per query (a trailing semicolon is fine)',
          start: this.offset(),
        });
        return { kind, findings: this.findings };
      }
    } else if (this.peek()) {
      throw this.unexpected();
    }
    return { kind, findings: this.findings };
  }

  /** FORMAT, SETTINGS and INTO OUTFILE, which may close any statement in either order. */
  private statementTail(): void {
    for (;;) {
      if (this.isWord('FORMAT')) {
        this.pos++;
        this.namePart();
      } else if (this.isWord('SETTINGS')) {
        this.settings();
      } else if (this.isWord('INTO')) {
        this.intoOutfile();
      } else {
        return;
      }
    }
  }

  private intoOutfile(): never {
    const start = this.offset();
    throw new RefusalSignal(
      this.isWord('OUTFILE', 1)
        ? 'INTO OUTFILE writes the result to a file on the client; byoc prints results itself (choose the output format with byoc options or a FORMAT clause)'
        : 'INTO is not allowed in a read-only query',
      start,
      this.findings,
    );
  }

  private settings(): void {
    this.expectWord('SETTINGS');
    do {
      const start = this.offset();
      const name = this.namePart();
      this.record({ type: 'setting', name: name.name, start });
      this.expectPunct('=');
      this.expression();
    } while (this.acceptPunct(','));
  }

  // ---- SELECT --------------------------------------------------------------------------------

  /** SELECT ... [UNION|EXCEPT|INTERSECT [ALL|DISTINCT] SELECT ...]* (members may be parenthesised). */
  private selectUnion(recursive?: string): void {
    this.nested(() => this.selectUnionInner(recursive));
  }

  /**
   * `recursive` names a WITH RECURSIVE CTE whose body this is: its first member (the anchor) cannot
   * see the name, the members after it can (they are the recursive step).
   */
  private selectUnionInner(recursive?: string): void {
    // The server copies the first member's WITH into the other UNION members
    // (ApplyWithGlobalVisitor, setting enable_global_with_statement, on by default in every release
    // with table CTEs), so its CTE names are visible to them. Not across EXCEPT / INTERSECT, which
    // older releases did not propagate into. Should a profile turn that setting off, the name would
    // read the current database, which the engineer's grants (the third defence) still refuse.
    const propagated = new Set(this.selectMember());
    if (recursive !== undefined) propagated.add(recursive);
    this.scopes.push(propagated);
    try {
      for (;;) {
        const word = this.wordAt();
        if (word !== 'UNION' && word !== 'EXCEPT' && word !== 'INTERSECT') return;
        if (word !== 'UNION' && recursive === undefined) propagated.clear();
        this.pos++;
        if (!this.acceptWord('ALL')) this.acceptWord('DISTINCT');
        this.selectMember();
      }
    } finally {
      this.scopes.pop();
    }
  }

  /** Returns the names of the table CTEs the member's own WITH defines (none if parenthesised). */
  private selectMember(): Set<string> {
    if (this.acceptPunct('(')) {
      this.selectUnion();
      this.expectPunct(')');
      return new Set();
    }
    if (!this.startsQuery()) throw this.error(`expected SELECT but found ${this.describeNext()}`);
    return this.select();
  }

  private select(): Set<string> {
    const scope = new Set<string>();
    this.scopes.push(scope);
    try {
      if (this.isWord('WITH')) this.withClause();
      // WITH ... FROM t SELECT ...: newer servers accept FROM before SELECT.
      const fromFirst = this.acceptWord('FROM');
      if (fromFirst) this.fromList();
      this.expectWord('SELECT');
      if (this.acceptWord('DISTINCT')) {
        if (this.acceptWord('ON')) this.parenthesizedList();
      } else {
        this.acceptWord('ALL');
      }
      if (this.acceptWord('TOP')) {
        this.unary();
        if (this.isWord('WITH') && this.isWord('TIES', 1)) this.pos += 2;
      }
      this.selectList();
      if (fromFirst && this.isWord('FROM')) throw this.unexpected();
      this.selectClauses();
      return scope;
    } finally {
      this.scopes.pop();
    }
  }

  private withClause(): void {
    this.expectWord('WITH');
    const recursive = this.acceptWord('RECURSIVE');
    const scope = this.scopes.at(-1)!;
    do {
      if (this.isName() && this.isWord('AS', 1) && this.isPunct('(', 2) && (this.startsQuery(3) || this.isPunct('(', 3))) {
        // WITH name AS (subquery): a table-like CTE, visible to later CTEs and the whole SELECT.
        // A CTE's body cannot see its own name (it is the table of that name there), except in
        // the recursive step of WITH RECURSIVE: after the anchor, the first UNION member.
        const name = this.namePart();
        this.pos += 2;
        this.selectUnion(recursive && !name.escaped ? name.name : undefined);
        this.expectPunct(')');
        if (!name.escaped) scope.add(name.name);
      } else {
        // WITH expression AS alias: a value, never a table (FROM alias still means a real table).
        this.expression();
      }
    } while (this.acceptPunct(','));
  }

  private selectList(): void {
    for (;;) {
      this.expression();
      this.implicitAlias();
      if (!this.acceptPunct(',')) return;
      // ClickHouse accepts a trailing comma before FROM.
      const next = this.wordAt();
      if (!this.peek() || this.isPunct(')') || this.isPunct(';')) return;
      if (next !== undefined && NOT_AN_OPERAND.has(next) && !this.softKeywordOperand()) return;
    }
  }

  private implicitAlias(): void {
    const token = this.peek();
    if (token?.kind === 'quoted' || (token?.kind === 'word' && !RESERVED.has(token.text.toUpperCase()))) this.pos++;
  }

  private selectClauses(): void {
    for (;;) {
      const word = this.wordAt();
      switch (word) {
        case 'FROM':
          this.pos++;
          this.fromList();
          break;
        case 'PREWHERE':
        case 'WHERE':
        case 'HAVING':
        case 'QUALIFY':
          this.pos++;
          this.expression();
          break;
        case 'GROUP':
          this.pos++;
          this.expectWord('BY');
          this.groupBy();
          break;
        case 'WITH':
          if (!['TOTALS', 'ROLLUP', 'CUBE'].includes(this.wordAt(1) ?? '')) return;
          this.pos += 2;
          break;
        case 'WINDOW':
          this.pos++;
          do {
            this.namePart();
            this.expectWord('AS');
            this.windowSpec();
          } while (this.acceptPunct(','));
          break;
        case 'ORDER':
          this.pos++;
          this.expectWord('BY');
          this.orderBy();
          break;
        case 'INTERPOLATE':
          this.pos++;
          if (this.isPunct('(')) this.parenthesizedList();
          break;
        case 'LIMIT':
          this.pos++;
          this.limit();
          break;
        case 'OFFSET':
          this.pos++;
          this.offsetFetch();
          break;
        case 'SETTINGS':
          this.settings();
          break;
        default:
          return;
      }
    }
  }

  private groupBy(): void {
    if (this.acceptWord('ALL')) return;
    if (this.isWord('GROUPING') && this.isWord('SETS', 1)) {
      this.pos += 2;
      this.parenthesizedList();
      return;
    }
    this.expressionList();
  }

  private orderBy(): void {
    if (this.acceptWord('ALL')) {
      this.sortDirection();
      return;
    }
    do {
      this.expression();
      this.sortDirection();
      if (this.acceptWord('COLLATE')) this.expression();
      if (this.isWord('WITH') && this.isWord('FILL', 1)) {
        this.pos += 2;
        for (;;) {
          const word = this.wordAt();
          if (word !== 'FROM' && word !== 'TO' && word !== 'STEP' && word !== 'STALENESS') break;
          this.pos++;
          this.expression();
        }
      }
    } while (this.acceptPunct(','));
  }

  private sortDirection(): void {
    const word = this.wordAt();
    if (word === 'ASC' || word === 'DESC' || word === 'ASCENDING' || word === 'DESCENDING') this.pos++;
    if (this.acceptWord('NULLS') && !this.acceptWord('FIRST')) this.expectWord('LAST');
  }

  private limit(): void {
    this.expression();
    if (this.acceptPunct(',')) this.expression();
    if (this.acceptWord('OFFSET')) this.expression();
    if (this.isWord('WITH') && this.isWord('TIES', 1)) this.pos += 2;
    if (this.acceptWord('BY')) this.expressionList();
  }

  private offsetFetch(): void {
    this.expression();
    if (!this.acceptWord('ROW')) this.acceptWord('ROWS');
    if (this.acceptWord('FETCH')) {
      if (!this.acceptWord('FIRST')) this.expectWord('NEXT');
      this.expression();
      if (!this.acceptWord('ROW')) this.expectWord('ROWS');
      if (this.isWord('WITH') && this.isWord('TIES', 1)) this.pos += 2;
      else this.expectWord('ONLY');
    }
  }

  // ---- FROM ----------------------------------------------------------------------------------

  private fromList(): void {
    this.tableExpression();
    for (;;) {
      if (this.acceptPunct(',')) {
        this.tableExpression();
        continue;
      }
      const join = this.joinKind();
      if (join === 'array') {
        // ARRAY JOIN unfolds arrays of the rows already read: its operands are expressions.
        this.expressionList();
        continue;
      }
      if (join === 'table') {
        this.tableExpression();
        if (this.acceptWord('ON')) {
          this.expression();
        } else if (this.acceptWord('USING')) {
          if (this.isPunct('(')) this.parenthesizedList();
          else this.expressionList();
        }
        continue;
      }
      return;
    }
  }

  /** Consumes a join operator: modifiers then JOIN, or [LEFT] ARRAY JOIN. */
  private joinKind(): 'table' | 'array' | undefined {
    let offset = 0;
    while (JOIN_MODIFIERS.has(this.wordAt(offset) ?? '')) offset++;
    if (this.isWord('JOIN', offset)) {
      this.pos += offset + 1;
      return 'table';
    }
    if (this.isWord('ARRAY', offset) && this.isWord('JOIN', offset + 1)) {
      const modifiers = this.tokens.slice(this.pos, this.pos + offset).map((token) => token.text.toUpperCase());
      if (modifiers.some((modifier) => modifier !== 'LEFT')) throw this.unexpected();
      this.pos += offset + 2;
      return 'array';
    }
    return undefined;
  }

  private tableExpression(): void {
    const start = this.offset();
    if (this.acceptPunct('(')) {
      if (this.isWord('EXPLAIN')) this.explain();
      else if (this.startsQuery() || this.isPunct('(')) this.selectUnion();
      else throw this.error(`expected a subquery but found ${this.describeNext()}`);
      this.expectPunct(')');
    } else if (this.isName()) {
      const parts = this.compoundName(false);
      if (this.isPunct('(')) {
        if (parts.length !== 1) throw this.error('a table function name cannot be qualified', start);
        this.tableFunction(parts[0]!.name, start);
      } else {
        this.tableName(parts, start);
      }
    } else if (this.isPunct('{')) {
      throw this.queryParameter();
    } else {
      throw this.error(`expected a table but found ${this.describeNext()}`);
    }
    this.tableModifiers();
  }

  /** [AS] alias, FINAL, SAMPLE k [OFFSET m], each at most once and in any order. */
  private tableModifiers(): void {
    const seen = new Set<string>();
    for (;;) {
      let modifier: string;
      const token = this.peek();
      if (this.isWord('FINAL')) modifier = 'FINAL';
      else if (this.isWord('SAMPLE')) modifier = 'SAMPLE';
      else if (this.isWord('AS') || token?.kind === 'quoted' || (token?.kind === 'word' && !RESERVED.has(token.text.toUpperCase()))) {
        modifier = 'alias';
      } else return;
      // A second alias would let an unknown keyword and a table name pass as two aliases.
      if (seen.has(modifier)) throw this.unexpected();
      seen.add(modifier);
      if (modifier === 'FINAL') {
        this.pos++;
      } else if (modifier === 'SAMPLE') {
        this.pos++;
        this.expression();
        if (this.acceptWord('OFFSET')) this.expression();
      } else {
        this.acceptWord('AS');
        this.namePart();
        // AS t(a, b): names for the columns.
        if (this.acceptPunct('(')) {
          do this.namePart();
          while (this.acceptPunct(','));
          this.expectPunct(')');
        }
      }
    }
  }

  /** Records a table named in FROM, JOIN, IN, SHOW, DESCRIBE or EXISTS. */
  private tableName(parts: NamePart[], start: number): void {
    if (parts.length === 1) {
      const table = parts[0]!;
      if (this.isCte(table)) return;
      this.record({ type: 'table', ref: { table, start }, start });
    } else if (parts.length === 2) {
      this.record({ type: 'table', ref: { database: parts[0]!, table: parts[1]!, start }, start });
    } else {
      throw this.error(`'${parts.map((part) => part.name).join('.')}' is not a table name`, start);
    }
  }

  private tableFunction(name: string, start: number): void {
    if (CLUSTER_FUNCTIONS.has(name.toLowerCase())) {
      this.clusterFunction(name, start);
      return;
    }
    const args = this.callArguments(name);
    const tables: TableReference[] = [];
    if (TABLE_ARGUMENT_FUNCTIONS.has(name.toLowerCase())) {
      // remote('host', db.table) / remote('host', db, table) / cluster('name', db.table)
      const [, first, second] = args;
      if (first?.kind === 'identifier' && first.parts.length === 2) {
        tables.push({ database: first.parts[0]!, table: first.parts[1]!, start });
      } else {
        const named = namedTable(first, second, start);
        if (named) tables.push(named);
      }
    }
    this.record({ type: 'tableFunction', name, start, tables });
  }

  /**
   * cluster('name', db.table [, key]) / cluster(name, db, table) / cluster('name', view(SELECT ...)):
   * the named table (or the subquery's tables, checked like any others) is read on every node.
   * The nodes do not see this query's CTEs, so none are in scope for the arguments.
   */
  private clusterFunction(name: string, start: number): void {
    const tables: TableReference[] = [];
    let view = false;
    let generator: string | undefined;
    const saved = this.scopes.splice(0);
    try {
      this.expectPunct('(');
      this.expression(); // the cluster name: a string or a bare identifier
      const args: Summary[] = [];
      if (!this.acceptPunct(',')) {
        // cluster('name') alone reads system.one on every node.
        tables.push({ database: { name: 'system', source: 'system', escaped: false }, table: { name: 'one', source: 'one', escaped: false }, start });
      } else if (this.isWord('VIEW') && this.isPunct('(', 1) && this.startsQuery(2)) {
        this.pos += 2;
        this.selectUnion();
        this.expectPunct(')');
        view = true;
      } else {
        args.push(this.expression());
      }
      while (this.acceptPunct(',') && !this.isPunct(')')) args.push(this.expression());
      this.expectPunct(')');
      const [first, second] = args;
      if (first?.kind === 'identifier' && first.parts.length === 2) {
        tables.push({ database: first.parts[0]!, table: first.parts[1]!, start });
      } else if (first?.kind === 'identifier' && first.parts.length === 1 && second?.kind !== 'identifier' && second?.kind !== 'string') {
        tables.push({ table: first.parts[0]!, start }); // a table of the nodes' current database
      } else if (first?.kind === 'call') {
        generator = first.name; // cluster('name', numbers(10)): a table function run on every node
      } else if (!view) {
        const named = namedTable(first, second, start);
        if (named) tables.push(named);
      }
    } finally {
      this.scopes.push(...saved);
    }
    this.record({ type: 'tableFunction', name, start, tables, ...(view ? { view } : {}), ...(generator ? { generator } : {}) });
  }

  // ---- expressions ---------------------------------------------------------------------------

  private expressionList(): void {
    do this.expression();
    while (this.acceptPunct(','));
  }

  private parenthesizedList(): void {
    this.expectPunct('(');
    if (!this.isPunct(')')) this.expressionList();
    this.expectPunct(')');
  }

  /**
   * An expression, with every operator ClickHouse has. Precedence does not matter here: only
   * which tokens belong to the expression, and where subqueries and IN operands are.
   */
  private expression(options: { alias?: boolean } = {}): Summary {
    return this.nested(() => this.expressionInner(options));
  }

  private expressionInner(options: { alias?: boolean }): Summary {
    let summary = this.unary();
    for (;;) {
      const token = this.peek();
      if (!token) return summary;
      if (token.kind === 'operator') {
        switch (token.text) {
          case '+':
          case '-':
          case '*':
          case '/':
          case '%':
          case '||':
          case '=':
          case '==':
          case '!=':
          case '<>':
          case '<':
          case '>':
          case '<=':
          case '>=':
          case '<=>':
          case '->':
            this.pos++;
            if (token.text === '->') this.expression(options);
            else this.unary();
            summary = OTHER;
            continue;
          case '?':
            this.pos++;
            this.expression({ alias: false });
            this.expectPunct(':');
            // The else branch extends to the end, so inside CAST(c ? a : b AS T) AS belongs to CAST.
            this.expression(options);
            summary = OTHER;
            continue;
          default:
            return summary;
        }
      }
      if (token.kind !== 'word') return summary;
      const word = token.text.toUpperCase();
      if (word === 'AND' || word === 'OR' || word === 'DIV' || word === 'MOD' || word === 'LIKE' || word === 'ILIKE' || word === 'REGEXP') {
        this.pos++;
        this.unary();
      } else if (word === 'NOT' && ['LIKE', 'ILIKE', 'REGEXP'].includes(this.wordAt(1) ?? '')) {
        this.pos += 2;
        this.unary();
      } else if (word === 'NOT' && this.isWord('BETWEEN', 1)) {
        this.pos += 2;
        this.between();
      } else if (word === 'BETWEEN') {
        this.pos++;
        this.between();
      } else if (word === 'IN' || (word === 'NOT' && this.isWord('IN', 1))) {
        this.pos += word === 'IN' ? 1 : 2;
        this.inOperand();
      } else if (word === 'GLOBAL' && (this.isWord('IN', 1) || (this.isWord('NOT', 1) && this.isWord('IN', 2)))) {
        this.pos += this.isWord('IN', 1) ? 2 : 3;
        this.inOperand();
      } else if (word === 'IS') {
        this.pos++;
        this.acceptWord('NOT');
        if (this.acceptWord('DISTINCT')) {
          this.expectWord('FROM');
          this.unary();
        } else {
          this.expectWord('NULL');
        }
      } else if (word === 'AS' && options.alias !== false) {
        this.pos++;
        this.namePart();
        continue;
      } else {
        return summary;
      }
      summary = OTHER;
    }
  }

  /** BETWEEN's bounds are whole arithmetic expressions (`now() - INTERVAL 1 HOUR`); AND separates them. */
  private between(): void {
    this.arithmetic();
    this.expectWord('AND');
    this.arithmetic();
  }

  /** Operands joined by arithmetic and concatenation, which bind tighter than AND and comparisons. */
  private arithmetic(): void {
    this.unary();
    for (;;) {
      const token = this.peek();
      if (token?.kind === 'operator' && ['+', '-', '*', '/', '%', '||'].includes(token.text)) {
        this.pos++;
      } else if (this.isWord('DIV') || this.isWord('MOD')) {
        this.pos++;
      } else {
        return;
      }
      this.unary();
    }
  }

  /**
   * The right side of IN. A bare or parenthesised name is a table (`x IN t`, `x IN (db.t)`), and
   * a function call there may be a table function, so both are recorded for the policy.
   */
  private inOperand(): void {
    const start = this.offset();
    const summary = this.unary();
    if (summary.kind === 'identifier') {
      const only = summary.parts.length === 1 ? summary.parts[0]! : undefined;
      // x IN (NULL): a literal, written as a bare word (a quoted `NULL` is a name).
      if (only && only.source === only.name && LITERAL_WORDS.has(only.name.toUpperCase())) return;
      if (summary.parts.length > 2) throw this.error('IN needs a table, a subquery or a list of values', start);
      this.tableName(summary.parts, summary.start);
    } else if (summary.kind === 'call') {
      // `x IN arrayMap(...)` is a set of values; only a table function name reads a table there.
      const name = summary.name.toLowerCase();
      if (!IN_VALUE_FUNCTIONS.has(name)) this.record({ type: 'tableFunction', name: summary.name, start: summary.start, tables: [] });
    }
  }

  private unary(): Summary {
    let prefixed = false;
    for (;;) {
      if (this.isPunct('-') || this.isPunct('+')) {
        this.pos++;
        prefixed = true;
      } else if (this.isWord('NOT') && !this.isPunct('(', 1)) {
        this.pos++;
        prefixed = true;
      } else {
        break;
      }
    }
    const summary = this.postfix(this.nested(() => this.primary()));
    return prefixed ? OTHER : summary;
  }

  private postfix(summary: Summary): Summary {
    let result = summary;
    for (;;) {
      if (this.acceptPunct('[')) {
        this.expression();
        this.expectPunct(']');
        result = OTHER;
      } else if (this.acceptPunct('::')) {
        this.dataType();
        result = OTHER;
      } else if (this.isPunct('.') && (this.peek(1)?.kind === 'number' || this.isName(1))) {
        // (expr).1, f(x).name: tuple element or subcolumn access.
        this.pos += 2;
        result = OTHER;
      } else {
        return result;
      }
    }
  }

  private primary(): Summary {
    const token = this.peek();
    if (!token) throw this.error('unexpected end of query');
    switch (token.kind) {
      case 'number':
        this.pos++;
        return OTHER;
      case 'string':
        this.pos++;
        // x'..' and b'..' hold their digits, not the bytes they mean: never a trusted name.
        return { kind: 'string', value: token.value ?? '', escaped: token.escaped === true || !token.text.startsWith("'") };
      case 'heredoc':
        this.pos++;
        return { kind: 'string', value: token.value ?? '', escaped: false };
      case 'quoted':
      case 'word':
        return this.namedPrimary();
      default:
        break;
    }
    switch (token.text) {
      case '(':
        return this.parenthesized();
      case '[':
        this.pos++;
        if (!this.isPunct(']')) this.expressionList();
        this.expectPunct(']');
        return OTHER;
      case '*':
        this.pos++;
        this.asteriskTransformers();
        return OTHER;
      case '{':
        throw this.queryParameter();
      case '@@':
        // @@max_allowed_packet: MySQL-style read of a server variable (globalVariable()).
        if (this.peek(1)?.kind !== 'word') throw this.unexpected();
        this.pos += 2;
        return OTHER;
      default:
        throw this.unexpected();
    }
  }

  private parenthesized(): Summary {
    this.expectPunct('(');
    if (this.isWord('EXPLAIN')) {
      // (EXPLAIN SYNTAX SELECT ...) as a scalar subquery: its text, checked like the query itself.
      this.explain();
      this.expectPunct(')');
      return OTHER;
    }
    if (this.startsQuery() || (this.isPunct('(') && this.startsQueryAfterParentheses())) {
      this.selectUnion();
      this.expectPunct(')');
      return OTHER;
    }
    if (this.acceptPunct(')')) return OTHER;
    const inner = this.expression();
    if (this.acceptPunct(')')) return inner; // (x) is x, so `IN (db.t)` still names a table
    this.expectPunct(',');
    if (!this.isPunct(')')) this.expressionList();
    this.expectPunct(')');
    return OTHER;
  }

  /** ((SELECT ...)) or ((SELECT ...) UNION ALL (SELECT ...)): a query behind more parentheses. */
  private startsQueryAfterParentheses(): boolean {
    let offset = 0;
    while (this.isPunct('(', offset) && offset <= MAX_DEPTH) offset++;
    if (!this.startsQuery(offset)) return false;
    // ((SELECT 1) + 1) is an expression; only treat it as a query if the subquery is followed by
    // a set operation or by the closing parenthesis of the outer one.
    const close = this.closing.get(this.pos);
    if (close === undefined) return false;
    const next = this.tokens[close + 1];
    const word = next?.kind === 'word' ? next.text.toUpperCase() : '';
    return word === 'UNION' || word === 'EXCEPT' || word === 'INTERSECT' || (next?.kind === 'punct' && next.text === ')');
  }

  private asteriskTransformers(): void {
    for (;;) {
      if (this.isWord('EXCEPT') && !this.startsQuery(1) && !(this.isPunct('(', 1) && this.startsQuery(2))) {
        this.pos++;
        this.acceptWord('STRICT');
        if (this.isPunct('(')) this.parenthesizedList();
        else this.namePart();
      } else if (this.isWord('REPLACE')) {
        this.pos++;
        // * REPLACE (f(x) AS c, ...) or a single * REPLACE f(x) AS c
        if (this.isPunct('(') && !this.startsQuery(1) && !this.startsQueryAfterParentheses()) this.parenthesizedList();
        else this.expression();
      } else if (this.isWord('APPLY')) {
        this.pos++;
        this.expression();
      } else {
        return;
      }
    }
  }

  private namedPrimary(): Summary {
    const token = this.peek()!;
    const word = token.kind === 'word' ? token.text.toUpperCase() : undefined;
    if (word !== undefined) {
      if (word === 'CASE') return this.caseExpression();
      if (word === 'CAST' && this.isPunct('(', 1)) return this.cast();
      if (word === 'EXTRACT' && this.isPunct('(', 1) && this.isName(2) && this.isWord('FROM', 3)) {
        this.pos += 3;
        this.expectWord('FROM');
        this.expression();
        this.expectPunct(')');
        return OTHER;
      }
      if (word === 'INTERVAL' && !this.isPunct('(', 1) && !this.isPunct(',', 1) && this.peek(1) !== undefined && !RESERVED.has(this.wordAt(1) ?? '')) {
        this.pos++;
        this.arithmetic(); // INTERVAL 2 * 24 HOUR
        if (INTERVAL_UNITS.has(this.wordAt() ?? '')) this.pos++;
        return OTHER;
      }
      if ((word === 'DATE' || word === 'TIMESTAMP' || word === 'TIME') && this.peek(1)?.kind === 'string') {
        this.pos += 2;
        return OTHER;
      }
      if (NOT_AN_OPERAND.has(word) && !this.isPunct('(', 1) && !this.softKeywordOperand()) throw this.unexpected();
    }
    const start = token.start;
    const parts = this.compoundName(true);
    if (this.isPunct('(')) {
      if (parts.length !== 1) throw this.error('a function name cannot be qualified', start);
      const name = parts[0]!.name;
      this.functionCall(name, start);
      if (name.toUpperCase() === 'COLUMNS') this.asteriskTransformers();
      return { kind: 'call', name, start };
    }
    const last = this.tokens[this.pos - 1];
    if (last?.kind === 'operator' && last.text === '*') {
      this.asteriskTransformers();
      return OTHER;
    }
    if (last?.kind === 'number') return OTHER;
    return { kind: 'identifier', parts, start };
  }

  /** a, a.b, `a`.`b`, t.*, t.1: names joined by dots (spaces and comments around dots allowed). */
  private compoundName(allowTail: boolean): NamePart[] {
    const parts = [this.namePart()];
    while (this.isPunct('.')) {
      const next = this.peek(1);
      if (next?.kind === 'word' || next?.kind === 'quoted') {
        this.pos++;
        parts.push(this.namePart());
      } else if (allowTail && (next?.kind === 'number' || next?.text === '*')) {
        this.pos += 2;
        break;
      } else {
        break;
      }
    }
    return parts;
  }

  private functionCall(name: string, start: number): void {
    this.record({ type: 'function', name, start });
    this.callArguments(name);
    // Parametric aggregate functions: quantile(0.9)(x).
    if (this.isPunct('(')) this.callArguments(name);
    if ((this.isWord('RESPECT') || this.isWord('IGNORE')) && this.isWord('NULLS', 1)) this.pos += 2;
    if (this.isWord('FILTER') && this.isPunct('(', 1)) {
      this.pos += 2;
      this.expectWord('WHERE');
      this.expression();
      this.expectPunct(')');
    }
    if (this.acceptWord('OVER')) {
      if (this.isPunct('(')) this.windowSpec();
      else this.namePart();
    }
  }

  /** ( [DISTINCT|ALL] arg, ... ) where an argument may also be a bare subquery. */
  private callArguments(name: string): Summary[] {
    this.expectPunct('(');
    const args: Summary[] = [];
    if (this.acceptPunct(')')) return args;
    // count(DISTINCT x); but in f(all, y) `all` is a column or alias named all.
    if ((this.isWord('DISTINCT') || this.isWord('ALL')) && !this.isPunct(',', 1) && !this.isPunct(')', 1)) this.pos++;
    const keywordSeparated = KEYWORD_ARGUMENT_FUNCTIONS.has(name.toLowerCase());
    if (keywordSeparated) {
      const word = this.wordAt();
      if ((word === 'BOTH' || word === 'LEADING' || word === 'TRAILING') && !this.isPunct(',', 1)) this.pos++;
    }
    for (;;) {
      if (this.startsQuery()) {
        this.selectUnion();
        args.push(OTHER);
      } else {
        args.push(this.expression());
      }
      if (this.acceptPunct(',')) {
        if (this.isPunct(')')) break; // f(a, b,): the server accepts a trailing comma
        continue;
      }
      if (keywordSeparated && (this.acceptWord('FROM') || this.acceptWord('FOR') || this.acceptWord('PLACING'))) continue;
      break;
    }
    this.expectPunct(')');
    return args;
  }

  private windowSpec(): void {
    this.expectPunct('(');
    while (!this.isPunct(')')) {
      if (!this.peek()) throw this.error('unterminated window specification');
      if (WINDOW_WORDS.has(this.wordAt() ?? '') || this.isPunct(',')) {
        this.pos++;
      } else {
        this.expression();
      }
    }
    this.expectPunct(')');
  }

  private caseExpression(): Summary {
    this.expectWord('CASE');
    if (!this.isWord('WHEN')) this.expression();
    if (!this.isWord('WHEN')) throw this.error(`expected WHEN but found ${this.describeNext()}`);
    while (this.acceptWord('WHEN')) {
      this.expression();
      this.expectWord('THEN');
      this.expression();
    }
    if (this.acceptWord('ELSE')) this.expression();
    this.expectWord('END');
    return OTHER;
  }

  private cast(): Summary {
    const start = this.offset();
    this.pos++;
    this.record({ type: 'function', name: 'CAST', start });
    this.expectPunct('(');
    this.expression({ alias: false });
    if (this.acceptWord('AS')) this.dataType();
    else {
      this.expectPunct(',');
      this.expression();
    }
    this.expectPunct(')');
    return OTHER;
  }

  /** A type name with optional arguments: Nullable(String), Decimal(10, 2), Tuple(a UInt8). */
  private dataType(): void {
    this.namePart();
    while (['PRECISION', 'VARYING', 'UNSIGNED', 'SIGNED'].includes(this.wordAt() ?? '')) this.pos++;
    if (!this.isPunct('(')) return;
    let depth = 0;
    do {
      const token = this.advance();
      if (token.kind === 'punct' && token.text === '(') depth++;
      else if (token.kind === 'punct' && token.text === ')') depth--;
      else if (token.kind === 'word' && (token.text.toUpperCase() === 'SELECT' || token.text.toUpperCase() === 'WITH')) {
        throw this.error('a subquery cannot appear in a type', token.start);
      } else if (token.kind === 'punct' && (token.text === ';' || token.text === '{')) {
        throw this.error(`unexpected '${token.text}' in a type`, token.start);
      }
    } while (depth > 0);
  }

  // ---- EXPLAIN / DESCRIBE / EXISTS / SHOW ----------------------------------------------------

  private explain(): void {
    const start = this.offset();
    this.expectWord('EXPLAIN');
    const word = this.wordAt();
    if (word !== undefined && EXPLAIN_KINDS.has(word) && !this.isPunct('=', 1)) {
      this.pos++;
    } else if (word === 'QUERY' && this.isWord('TREE', 1)) {
      this.pos += 2;
    } else if (word === 'TABLE' || word === 'CURRENT' || word === 'WHATIF') {
      throw new RefusalSignal(
        `EXPLAIN ${word} is not allowed; byoc allows EXPLAIN [AST|SYNTAX|QUERY TREE|PLAN|PIPELINE|ESTIMATE|ANALYZE] of a SELECT`,
        start,
        this.findings,
      );
    }
    // EXPLAIN options: name = value, ... before the query.
    while (this.isName() && this.isPunct('=', 1)) {
      const optionStart = this.offset();
      const name = this.namePart().name;
      this.record({ type: 'explainOption', name, start: optionStart });
      this.pos++;
      this.unary();
      this.acceptPunct(',');
    }
    if (this.startsQuery() || this.isPunct('(')) {
      this.selectUnion();
      return;
    }
    throw new RefusalSignal(
      `EXPLAIN of ${this.describeNext()} is not allowed; byoc explains SELECT queries only`,
      this.offset(),
      this.findings,
    );
  }

  private describe(): void {
    this.pos++; // DESCRIBE | DESC
    this.acceptWord('TABLE');
    const start = this.offset();
    if (this.startsQuery()) {
      this.selectUnion();
      return;
    }
    if (this.acceptPunct('(')) {
      this.selectUnion();
      this.expectPunct(')');
      return;
    }
    const parts = this.compoundName(false);
    if (this.isPunct('(')) {
      if (parts.length !== 1) throw this.error('a table function name cannot be qualified', start);
      this.tableFunction(parts[0]!.name, start);
    } else {
      this.tableName(parts, start);
    }
  }

  private exists(): void {
    this.expectWord('EXISTS');
    this.acceptWord('TEMPORARY');
    const what = this.wordAt();
    if (what === 'DATABASE') {
      this.pos++;
      const start = this.offset();
      this.record({ type: 'database', database: this.namePart(), start, context: 'EXISTS DATABASE' });
      return;
    }
    if (what === 'TABLE' || what === 'DICTIONARY' || what === 'VIEW') this.pos++;
    const start = this.offset();
    if (!this.isName()) throw this.error(`expected a table name but found ${this.describeNext()}`);
    this.tableName(this.compoundName(false), start);
  }

  private show(): void {
    const showStart = this.offset();
    this.expectWord('SHOW');
    while (['FULL', 'EXTENDED', 'TEMPORARY'].includes(this.wordAt() ?? '')) this.pos++;
    const subject = this.wordAt();
    switch (subject) {
      case 'TABLES':
      case 'DICTIONARIES': {
        this.pos++;
        if (this.acceptWord('FROM') || this.acceptWord('IN')) {
          const start = this.offset();
          this.record({ type: 'database', database: this.namePart(), start, context: `SHOW ${subject}` });
        } else {
          this.record({
            type: 'refusal',
            reason: `SHOW ${subject} without FROM lists the current database, which is customer data; use SHOW ${subject} FROM system`,
            start: showStart,
          });
        }
        this.showTail(false);
        return;
      }
      case 'COLUMNS':
      case 'FIELDS':
      case 'INDEX':
      case 'INDEXES':
      case 'INDICES':
      case 'KEYS': {
        this.pos++;
        if (!this.acceptWord('FROM')) this.expectWord('IN');
        const start = this.offset();
        const parts = this.compoundName(false);
        if (this.acceptWord('FROM') || this.acceptWord('IN')) {
          if (parts.length !== 1) throw this.error('the table is qualified twice', start);
          parts.unshift(this.namePart());
        }
        this.tableName(parts, start);
        this.showTail(false);
        return;
      }
      case 'CREATE':
        this.pos++;
        this.showCreate();
        return;
      case 'CHANGED':
        // SHOW CHANGED SETTINGS [LIKE ...]: SETTINGS here is the subject, not a SETTINGS clause.
        this.pos++;
        this.expectWord('SETTINGS');
        this.showTail(true);
        return;
      case 'DATABASES':
      case 'PROCESSLIST':
      case 'SETTINGS':
      case 'SETTING':
      case 'CLUSTER':
      case 'CLUSTERS':
      case 'ENGINES':
      case 'FUNCTIONS':
      case 'MERGES':
      case 'GRANTS':
      case 'USERS':
      case 'ROLES':
      case 'CURRENT':
      case 'ENABLED':
      case 'PROFILES':
      case 'POLICIES':
      case 'ROW':
      case 'QUOTAS':
      case 'QUOTA':
      case 'ACCESS':
      case 'PRIVILEGES':
      case 'FILESYSTEM':
        // These read server state kept in system tables (system.databases, system.processes,
        // system.settings, system.clusters, access entities...), never customer tables.
        this.pos++;
        this.showTail(true);
        return;
      default:
        throw new RefusalSignal(
          `SHOW ${this.describeNext()} is not supported; byoc allows SHOW TABLES FROM system, SHOW CREATE TABLE system.x, SHOW DATABASES, SHOW PROCESSLIST, SHOW SETTINGS and the access-entity forms`,
          showStart,
          this.findings,
        );
    }
  }

  private showCreate(): void {
    this.acceptWord('TEMPORARY');
    const what = this.wordAt();
    if (what === 'DATABASE') {
      this.pos++;
      const start = this.offset();
      this.record({ type: 'database', database: this.namePart(), start, context: 'SHOW CREATE DATABASE' });
      this.showTail(false);
      return;
    }
    if (['USER', 'ROLE', 'QUOTA', 'ROW', 'POLICY', 'PROFILE', 'SETTINGS', 'USERS', 'ROLES', 'QUOTAS', 'POLICIES', 'PROFILES'].includes(what ?? '')) {
      this.pos++;
      this.showTail(true);
      return;
    }
    if (what === 'TABLE' || what === 'VIEW' || what === 'DICTIONARY') this.pos++;
    const start = this.offset();
    this.tableName(this.compoundName(false), start);
    this.showTail(false);
  }

  /**
   * The rest of a SHOW: LIKE, LIMIT, WHERE, FORMAT, SETTINGS. With `names`, also the plain words,
   * strings and dots of access-entity forms (SHOW GRANTS FOR alice, SHOW ROW POLICIES ON db.t).
   */
  private showTail(names: boolean): void {
    for (;;) {
      const token = this.peek();
      if (!token || this.isPunct(';')) return;
      const word = this.wordAt();
      if (word === 'NOT' && (this.isWord('LIKE', 1) || this.isWord('ILIKE', 1))) {
        this.pos++;
        continue;
      }
      if (word === 'LIKE' || word === 'ILIKE') {
        this.pos++;
        const pattern = this.peek();
        if (pattern?.kind !== 'string') throw this.error(`expected a string after ${word}`);
        // Servers before ClickHouse PR #89942 (25.x before its backport too) rewrite SHOW into a
        // SELECT by splicing the pattern between quotes unescaped, so a quote or backslash in it
        // (or an x'..' literal that decodes to one) could end the string and append SQL.
        if (!pattern.text.startsWith("'") || /['\\]/.test(pattern.text.slice(1, -1))) {
          this.record({
            type: 'refusal',
            reason: `the ${word} pattern of a SHOW may not contain a quote or backslash (older servers splice it into a query unescaped); use SELECT ... FROM system.<table> WHERE name ${word} '...' instead`,
            start: pattern.start,
          });
        }
        this.pos++;
      } else if (word === 'LIMIT' || word === 'WHERE') {
        this.pos++;
        this.expression();
      } else if (word === 'FORMAT' || word === 'SETTINGS' || word === 'INTO') {
        return;
      } else if (
        names &&
        (token.kind === 'string' ||
          token.kind === 'quoted' ||
          token.kind === 'number' ||
          (token.kind === 'word' && !SHOW_TAIL_STOP_WORDS.has(word ?? '')) ||
          this.isPunct(',') ||
          this.isPunct('.') ||
          this.isPunct('@'))
      ) {
        this.pos++;
      } else {
        throw this.unexpected();
      }
    }
  }
}

/** A definite refusal found while parsing (not a failure to parse). */
export class RefusalSignal extends Error {
  constructor(
    readonly reason: string,
    readonly offset: number,
    readonly findings: Finding[] = [],
  ) {
    super(reason);
    this.name = 'RefusalSignal';
  }
}

/** A database and a table given as two arguments (`remote('host', db, table)`, `cluster('name', 'db', 'table')`). */
function namedTable(first: Summary | undefined, second: Summary | undefined, start: number): TableReference | undefined {
  const database = namePart(first);
  const table = namePart(second);
  return database && table ? { database, table, start } : undefined;
}

/** One name as a table function's argument: a bare identifier or a string literal. */
function namePart(summary: Summary | undefined): NamePart | undefined {
  if (summary?.kind === 'identifier' && summary.parts.length === 1) return summary.parts[0];
  if (summary?.kind === 'string') return { name: summary.value, source: `'${summary.value}'`, escaped: summary.escaped };
  return undefined;
}

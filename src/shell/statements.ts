import { lex } from '../clickhouse/lexer.js';

export interface ShellStatement {
  /** the statement's text, without its terminator */
  sql: string;
  /** ended with `\G` (clickhouse-client's vertical output) rather than `;` */
  vertical: boolean;
}

/**
 * The statements typed so far, as clickhouse-client and psql read them: a statement ends at a `;` or a `\G` that
 * the project's lexer (the guard's, which splits exactly as the server does) sees outside strings, quoted names and
 * comments; text after the last terminator waits for the next line. A regex could not tell a `;` inside a string or
 * a comment from a real one. Text the lexer cannot finish (an open string or block comment) also waits: the
 * engineer is still typing it (Ctrl-C clears it).
 */
export class StatementBuffer {
  #text = '';

  /** Adds one line; returns the statements it completed, in order. */
  add(line: string): ShellStatement[] {
    this.#text = this.#text ? `${this.#text}\n${line}` : line;
    const { tokens, error } = lex(this.#text);
    const done: ShellStatement[] = [];
    let start = 0;
    let skipSemicolon = false;
    for (const token of tokens) {
      if (error && token.end > error.offset) break;
      const semicolon = token.kind === 'punct' && token.text === ';';
      if (semicolon && skipSemicolon) {
        // `SELECT 1\G;` is one statement, as in clickhouse-client
        start = token.end;
        skipSemicolon = false;
        continue;
      }
      if (token.kind !== 'whitespace' && token.kind !== 'comment') skipSemicolon = false;
      const vertical = token.kind === 'operator' && token.text === '\\G';
      if (!semicolon && !vertical) continue;
      const sql = this.#text.slice(start, token.start);
      if (hasCode(sql)) done.push({ sql: sql.trim(), vertical });
      start = token.end;
      skipSemicolon = vertical;
    }
    this.#text = this.#text.slice(start);
    if (!hasCode(this.#text) && !error) this.#text = '';
    else this.#text = this.#text.replace(/^\s*\n/, '');
    return done;
  }

  /** Whether a statement is being typed (the prompt shows the continuation). */
  get pending(): boolean {
    return this.#text !== '';
  }

  /** Whether the text so far ends inside a string, a quoted name or a block comment (a `\` line is then its text). */
  get open(): boolean {
    return this.#text !== '' && lex(this.#text).error !== undefined;
  }

  clear(): void {
    this.#text = '';
  }
}

/** Text with something other than spaces and comments in it (a statement of only comments is skipped, as psql does). */
function hasCode(text: string): boolean {
  if (!text.trim()) return false;
  const { tokens, error } = lex(text);
  return Boolean(error) || tokens.some((token) => token.kind !== 'whitespace' && token.kind !== 'comment');
}

import { lex } from './lexer.js';

export interface SqlStatement {
  /** the statement's text from its first token (comments before it left out), without its `;` */
  text: string;
  /** 1-based line of its first token in the file */
  line: number;
}

/**
 * The statements of a multi-statement text (a runbook), split at the `;` tokens of the project's lexer, so a `;`
 * inside a string, a quoted name or a comment does not split. Statements of only comments and spaces are left
 * out. Text the lexer cannot read (an unterminated string) stays one statement to the end, for the guard to
 * refuse with the lexer's reason. Splits as current servers read (nested comments, heredocs): runbooks are run
 * statement by statement, each checked again by the guard under every dialect.
 */
export function splitStatements(sql: string): SqlStatement[] {
  const { tokens, error } = lex(sql);
  const statements: SqlStatement[] = [];
  let start = 0; // where the statement's text begins: after the last `;`
  let first: number | undefined;
  const close = (end: number) => {
    if (first !== undefined) statements.push({ text: sql.slice(first, end), line: lineAt(sql, first) });
    first = undefined;
  };
  for (const token of tokens) {
    if (token.kind === 'punct' && token.text === ';') {
      close(token.start);
      start = token.end;
    } else if (token.kind !== 'whitespace' && token.kind !== 'comment') {
      first ??= token.start;
    }
  }
  if (error) first ??= nonSpace(sql, start);
  close(sql.length);
  return statements;
}

function nonSpace(sql: string, from: number): number | undefined {
  const offset = sql.slice(from).search(/\S/);
  return offset < 0 ? undefined : from + offset;
}

function lineAt(sql: string, offset: number): number {
  let line = 1;
  for (let index = sql.indexOf('\n'); index !== -1 && index < offset; index = sql.indexOf('\n', index + 1)) line++;
  return line;
}

import { describe, expect, it } from 'vitest';
import { splitStatements } from '../../../src/clickhouse/statements.js';

describe('splitStatements', () => {
  it('splits at ; outside strings, quoted names and comments, with the line of each first token', () => {
    // Given a runbook with ; in a string, a quoted name, a line comment, a block comment and a heredoc
    const sql = [
      '-- runbook; merges',
      'SELECT 1 FROM system.one;',
      '',
      "/* a ; here */ SELECT 'a;b', `c;d` FROM system.one; SELECT $$e;f$$ FROM system.one -- g;",
      '; ;',
      'SELECT 3',
      'FROM system.one',
    ].join('\n');
    // When split / Then four statements, each from its first token, comments before it left out
    expect(splitStatements(sql)).toEqual([
      { line: 2, text: 'SELECT 1 FROM system.one' },
      { line: 4, text: "SELECT 'a;b', `c;d` FROM system.one" },
      { line: 4, text: ' SELECT $$e;f$$ FROM system.one -- g;\n'.trimStart() },
      { line: 6, text: 'SELECT 3\nFROM system.one' },
    ]);
  });

  it('leaves out empty statements and a file of comments only', () => {
    expect(splitStatements(';;\n  -- nothing\n/* still; nothing */')).toEqual([]);
  });

  it('keeps unreadable text (an unterminated string) as one statement to the end, for the guard to refuse', () => {
    // Given a statement, then one whose string never ends (its ; are inside the string as the server reads it)
    const statements = splitStatements("SELECT 1 FROM system.one;\nSELECT 'x; SELECT 2; ");
    // Then the second runs to the end of the file
    expect(statements).toEqual([
      { line: 1, text: 'SELECT 1 FROM system.one' },
      { line: 2, text: "SELECT 'x; SELECT 2; " },
    ]);
  });
});

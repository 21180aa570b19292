import { describe, expect, it } from 'vitest';
import { StatementBuffer } from '../../../src/shell/statements.js';

describe('StatementBuffer: where a typed statement ends', () => {
  it('waits for ; across lines and keeps the lines of one statement together', () => {
    // Given a buffer / When a statement comes over three lines
    const buffer = new StatementBuffer();
    expect(buffer.add('SELECT name')).toEqual([]);
    expect(buffer.pending).toBe(true);
    expect(buffer.add('FROM system.tables')).toEqual([]);
    // Then it is one statement once the ; comes, and nothing is left pending
    expect(buffer.add('WHERE 1;')).toEqual([{ sql: 'SELECT name\nFROM system.tables\nWHERE 1', vertical: false }]);
    expect(buffer.pending).toBe(false);
  });

  it('ignores a ; inside a string, a quoted name or a comment (the guard lexer, not a regex)', () => {
    const buffer = new StatementBuffer();
    expect(buffer.add("SELECT 'a;b', `c;d` -- e;")).toEqual([]);
    expect(buffer.add('/* f; */ FROM system.one;')).toEqual([{ sql: "SELECT 'a;b', `c;d` -- e;\n/* f; */ FROM system.one", vertical: false }]);
  });

  it('waits while a string is still open, then ends at the ; after it', () => {
    const buffer = new StatementBuffer();
    expect(buffer.add("SELECT 'first line")).toEqual([]);
    expect(buffer.add("second; line' AS x;")).toEqual([{ sql: "SELECT 'first line\nsecond; line' AS x", vertical: false }]);
  });

  it('\\G ends a statement for vertical output (a ; right after it belongs to it)', () => {
    const buffer = new StatementBuffer();
    expect(buffer.add('SELECT 1\\G')).toEqual([{ sql: 'SELECT 1', vertical: true }]);
    expect(buffer.add('SELECT 2 \\G;')).toEqual([{ sql: 'SELECT 2', vertical: true }]);
    expect(buffer.pending).toBe(false);
    expect(buffer.add("SELECT '\\G';")).toEqual([{ sql: "SELECT '\\G'", vertical: false }]);
  });

  it('several statements on a line run in order; what follows the last waits; empty ones and comments are skipped', () => {
    const buffer = new StatementBuffer();
    expect(buffer.add('SELECT 1; ; -- nothing\nSELECT 2; SELECT')).toEqual([
      { sql: 'SELECT 1', vertical: false },
      { sql: '-- nothing\nSELECT 2', vertical: false },
    ]);
    expect(buffer.pending).toBe(true);
    expect(buffer.add('3;')).toEqual([{ sql: 'SELECT\n3', vertical: false }]);
    expect(buffer.add('-- only a comment;')).toEqual([]);
    expect(buffer.pending).toBe(false);
  });

  it('clear() forgets what was typed (Ctrl-C)', () => {
    const buffer = new StatementBuffer();
    buffer.add('SELECT 1');
    buffer.clear();
    expect(buffer.pending).toBe(false);
    expect(buffer.add('SELECT 2;')).toEqual([{ sql: 'SELECT 2', vertical: false }]);
  });
});

/**
 * Which errors the audit calls `denied`, decided by the server-side condition byoc sends, run on a current
 * ClickHouse (chdb) over query_log-shaped rows: one row per refusal code (as it is raised before the query starts
 * and while it runs), and the everyday errors that are failures, not refusals (unknown table 60, unknown column 47,
 * syntax error 62, timeout 159). Both forms: by exception_code (newer servers) and by the exception's text (18.x).
 */
import { describe, expect, it } from 'vitest';
import { deniedCondition, REFUSAL_CODES } from '../../src/audit/sql.js';
import { chdbFor } from './engine.js';

const chdb = chdbFor('the audit\'s denied condition on a current ClickHouse (chdb)');

const FAILURES: Record<number, string> = { 60: 'UNKNOWN_TABLE', 47: 'UNKNOWN_IDENTIFIER', 62: 'SYNTAX_ERROR', 159: 'TIMEOUT_EXCEEDED' };

/** A query_log row's type, code and exception text as servers write them (18.x: no name; current: the name at the end). */
function rows(): string {
  const out: string[] = [];
  const add = (type: number, code: number, name: string, text: string) => out.push(`(${type}, ${code}, '${`Code: ${code}, e.displayText() = DB::Exception: ${text} (${name})`.replace(/'/g, "\\'")}')`);
  for (const [code, name] of Object.entries(REFUSAL_CODES)) {
    add(3, Number(code), name, 'refused before it started');
    add(4, Number(code), name, 'refused while running');
  }
  for (const [code, name] of Object.entries(FAILURES)) {
    add(3, Number(code), name, 'an ordinary error before it started');
    add(4, Number(code), name, 'an ordinary error while running');
  }
  // a finished query, whatever an old text says
  out.push(`(2, 0, '')`);
  return out.join(', ');
}

describe.skipIf(!chdb)("the audit's denied condition on a current ClickHouse (chdb)", () => {
  for (const hasExceptionCode of [true, false]) {
    it(`flags exactly the refusal codes as denied, by ${hasExceptionCode ? 'exception_code' : 'the exception text (servers without exception_code)'}`, () => {
      const sql = `SELECT DISTINCT exception_code FROM (SELECT * FROM values('type Int8, exception_code Int32, exception String', ${rows()})) WHERE ${deniedCondition({ hasExceptionCode })} ORDER BY exception_code FORMAT TSV`;
      const denied = chdb!.query(sql).split('\n').filter(Boolean).map(Number);
      expect(denied).toEqual(Object.keys(REFUSAL_CODES).map(Number).sort((a, b) => a - b));
    });
  }

  it.each(Object.entries(REFUSAL_CODES))('code %s (%s) is a refusal both before and while the query runs', (code) => {
    const sql = `SELECT count() FROM (SELECT * FROM values('type Int8, exception_code Int32, exception String', ${rows()})) WHERE exception_code = ${code} AND ${deniedCondition({ hasExceptionCode: true })} FORMAT TSV`;
    expect(chdb!.query(sql).trim()).toBe('2');
  });
});

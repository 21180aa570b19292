import { describe, expect, it } from 'vitest';
import { queryTextRead } from '../../../src/audit/query-text.js';

describe('queryTextRead', () => {
  // Given queries an engineer might send; When the audit reads their text; Then only reads of the text columns count.
  it.each([
    ['SELECT query FROM system.query_log WHERE 1', { tables: ['system.query_log'], columns: ['query'] }],
    ['SELECT * FROM system.processes', { tables: ['system.processes'], columns: ['*'] }],
    ['SELECT `query` FROM `system`.`query_log`', { tables: ['system.query_log'], columns: ['query'] }],
    ['SELECT q.* FROM system.query_thread_log AS q', { tables: ['system.query_thread_log'], columns: ['*'] }],
    ["SELECT user FROM system.query_log WHERE query LIKE '%4111%'", { tables: ['system.query_log'], columns: ['query'] }],
    ['SELECT DISTINCT formatted_query FROM system.query_views_log', { tables: ['system.query_views_log'], columns: ['formatted_query'] }],
    ['SELECT x FROM (SELECT query AS x FROM system.query_log)', { tables: ['system.query_log'], columns: ['query'] }],
    ['SELECT toString(tuple(*)) FROM system.processes', { tables: ['system.processes'], columns: ['*'] }],
    ["SELECT COLUMNS('^qu') FROM system.query_log", { tables: ['system.query_log'], columns: ['*'] }],
  ])('flags %s', (text, expected) => {
    expect(queryTextRead(text)).toEqual(expected);
  });

  it.each([
    'SELECT count(*) FROM system.query_log',
    'SELECT COUNT(*), sum(read_rows) FROM system.query_log',
    'SELECT user, read_rows FROM system.query_log WHERE event_date = today()',
    "SELECT 'query' FROM system.query_log",
    'SELECT user FROM system.query_log -- query',
    'SELECT query FROM system.tables',
    'SELECT a * b FROM system.query_log',
    'SELECT normalized_query_hash FROM system.query_log',
    "SELECT * FROM system.one WHERE 'system.query_log' = ''",
    'SELECT query FROM (SELECT 1 AS query)',
  ])('does not flag %s', (text) => {
    expect(queryTextRead(text)).toBeUndefined();
  });
});

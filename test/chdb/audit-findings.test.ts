/**
 * The SQL of the two findings #19 added, run on a current ClickHouse (chdb): the failed-login scan over
 * session_log-shaped rows (the real column types: an Enum8 type, an IPv6 address, an Enum8 interface), and the
 * query-text candidates by the `tables` column (hasAny), each keeping exactly the rows it should.
 */
import { describe, expect, it } from 'vitest';
import { describeSchema } from '../../src/audit/schema.js';
import { findingsSql, loginFailuresSql } from '../../src/audit/sql.js';
import { chdbFor } from './engine.js';

const chdb = chdbFor('the audit\'s login and query-text findings on a current ClickHouse (chdb)');
const T0 = 1_795_000_000;
const FILTER = { since: T0 - 60, until: T0 + 60, userPattern: '^byoc_' };

const SESSION_LOG = `values('type Enum8(\\'LoginFailure\\' = 0, \\'LoginSuccess\\' = 1, \\'Logout\\' = 2), event_date Date, event_time DateTime, user Nullable(String), client_address IPv6, interface Enum8(\\'TCP\\' = 1, \\'HTTP\\' = 2), failure_reason String',
  ('LoginFailure', toDate(${T0}), ${T0}, 'byoc_r_aaaaaaaaaa_alice_40vendor_2eexample', '::ffff:10.0.0.9', 'HTTP', 'AUTHENTICATION_FAILED'),
  ('LoginSuccess', toDate(${T0}), ${T0}, 'byoc_r_aaaaaaaaaa_alice_40vendor_2eexample', '::ffff:10.0.0.9', 'HTTP', ''),
  ('LoginFailure', toDate(${T0}), ${T0}, 'app', '::1', 'TCP', 'wrong password'),
  ('LoginFailure', toDate(${T0 - 3600}), ${T0 - 3600}, 'byoc_r_aaaaaaaaaa_alice_40vendor_2eexample', '::1', 'TCP', 'before the window'))`;

describe.skipIf(!chdb)("the audit's login and query-text findings on a current ClickHouse (chdb)", () => {
  it('keeps only failed logins of engineer users inside the window', () => {
    // Given session_log rows: alice's failure and success, another user's failure, alice's failure before the window
    const sql = loginFailuresSql(FILTER, 100).replace('system.session_log', `(SELECT * FROM ${SESSION_LOG})`);
    // When the audit's SQL runs / Then only alice's failure in the window comes back, with its address and reason
    expect(chdb!.query(`${sql} FORMAT TSV`).trim()).toBe(`${T0}\tbyoc_r_aaaaaaaaaa_alice_40vendor_2eexample\t::ffff:10.0.0.9\tHTTP\tAUTHENTICATION_FAILED`);
  });

  it('picks the query-text candidates by the tables the server logged', () => {
    // Given a modern query_log: reads of query_log, of processes, and of system.one, by an engineer user
    const schema = describeSchema('system.query_log', new Map(Object.entries({ event_date: 'Date', event_time: 'DateTime', type: 'Int8', user: 'String', query_id: 'String', query: 'String', exception: 'String', read_rows: 'UInt64', read_bytes: 'UInt64', query_duration_ms: 'UInt64', tables: 'Array(String)' })));
    const log = `values('event_date Date, event_time DateTime, type Int8, user String, query_id String, query String, exception String, read_rows UInt64, read_bytes UInt64, query_duration_ms UInt64, tables Array(String)',
      (toDate(${T0}), ${T0}, 2, 'byoc_r_aaaaaaaaaa_x', 'byoc-r-aaaaaaaaaa-1', 'SELECT query FROM system.query_log', '', 5, 50, 1, ['system.query_log']),
      (toDate(${T0}), ${T0 + 1}, 2, 'byoc_r_aaaaaaaaaa_x', 'byoc-r-aaaaaaaaaa-2', 'SELECT * FROM system.processes', '', 1, 10, 1, ['system.processes']),
      (toDate(${T0}), ${T0 + 2}, 2, 'byoc_r_aaaaaaaaaa_x', 'byoc-r-aaaaaaaaaa-3', 'SELECT 1 FROM system.one', '', 1, 1, 1, ['system.one']))`;
    const sql = findingsSql(schema, FILTER).replace('`system`.`query_log`', `(SELECT * FROM ${log})`);
    // When the findings SQL runs / Then exactly the two reads of query-bearing tables are candidates (kind 6)
    const rows = chdb!.query(`${sql} FORMAT TSV`).trim().split('\n').map((line) => line.split('\t'));
    expect(rows.filter((row) => row[0] === '6').map((row) => row[4])).toEqual(['byoc-r-aaaaaaaaaa-1', 'byoc-r-aaaaaaaaaa-2']);
  });
});

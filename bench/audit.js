#!/usr/bin/env node
// `byoc audit query-log --source-table` over 1M rows in a query_log-shaped table (current shape: Enum type,
// tables, exception_code, log_comment) on the sandbox's real ClickHouse, against the equivalent hand-written
// SQL run with clickhouse-client, in one run. Target: <= 1.2x.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BYOC, compare, report, runsFromEnv } from './lib.js';
import { startSandbox } from './lib-sandbox.js';

const ROWS = Number(process.env.BENCH_AUDIT_ROWS ?? 1_000_000);
const sandbox = startSandbox();
try {
  const { up, env, cwd } = sandbox;
  const password = readFileSync(up.customer.passwordFile, 'utf8').trim();
  const client = (sql, multiquery = false) => {
    const result = spawnSync('clickhouse-client', ['--host', '127.0.0.1', '--port', String(up.clickhouse.tcpPort), '--user', up.customer.user, '--password', password, ...(multiquery ? ['--multiquery'] : []), '--query', sql], { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (result.status !== 0) throw new Error(`clickhouse-client failed: ${result.stderr}`);
    return result.stdout;
  };
  client('CREATE DATABASE IF NOT EXISTS bench');
  client(`CREATE TABLE IF NOT EXISTS bench.query_log (
    event_date Date, event_time DateTime,
    type Enum8('QueryStart' = 1, 'QueryFinish' = 2, 'ExceptionBeforeStart' = 3, 'ExceptionWhileProcessing' = 4),
    user String, query_id String, query String, exception String, exception_code Int32,
    read_rows UInt64, read_bytes UInt64, query_duration_ms UInt64, tables Array(String), log_comment String
  ) ENGINE = MergeTree PARTITION BY event_date ORDER BY (event_date, event_time)`);
  client('TRUNCATE TABLE bench.query_log');
  client(`INSERT INTO bench.query_log SELECT
    toDate(t) AS event_date, t AS event_time,
    if(number % 97 = 0, 'ExceptionWhileProcessing', if(number % 389 = 0, 'ExceptionBeforeStart', 'QueryFinish')) AS type,
    multiIf(number % 3 = 0, 'app', number % 3 = 1, 'byoc_alice_vendor_example', 'byoc_bob_vendor_example') AS user,
    if(number % 50 = 0, concat('adhoc-', toString(number)), concat('byoc-r-bench', toString(number % 40), '-', toString(number))) AS query_id,
    if(number % 211 = 0, 'SELECT * FROM default.orders', 'SELECT * FROM system.parts') AS query,
    if(number % 97 = 0, 'Code: 497. DB::Exception: Not enough privileges. (ACCESS_DENIED)', '') AS exception,
    if(number % 97 = 0, 497, 0) AS exception_code,
    number % 1000 AS read_rows, (number % 1000) * 100 AS read_bytes, number % 50 AS query_duration_ms,
    if(number % 211 = 0, ['default.orders'], ['system.parts']) AS tables,
    '' AS log_comment
  FROM (SELECT number, toDateTime(now() - (number % 86400)) AS t FROM system.numbers LIMIT ${ROWS})`);

  // What a customer would write by hand for the same report: summary, refusals, untagged, non-system tables.
  const window = "event_date >= today() - 2 AND event_time >= now() - 172800 AND CAST(type, 'Int8') != 1 AND (match(user, '^byoc_') OR query_id LIKE 'byoc-%')";
  const request = "extract(query_id, '^byoc-(r-[0-9a-z]+)-')";
  const rowColumns = `toUnixTimestamp(event_time), user, ${request} AS request_id, query_id, CAST(type, 'Int8'), read_rows, read_bytes, query_duration_ms, substring(exception, 1, 500), tables, substring(query, 1, 4000)`;
  const handWritten = [
    "SELECT name, type FROM system.columns WHERE database = 'bench' AND table = 'query_log'",
    `SELECT user, ${request} AS request_id, toUnixTimestamp(min(event_time)), toUnixTimestamp(max(event_time)), count(), countIf(CAST(type, 'Int8') IN (3, 4)), countIf(CAST(type, 'Int8') = 3 OR exception_code IN (164, 497, 516)), sum(read_rows), sum(read_bytes) FROM bench.query_log WHERE ${window} GROUP BY user, request_id ORDER BY user, request_id`,
    `SELECT ${rowColumns} FROM bench.query_log WHERE ${window} AND (CAST(type, 'Int8') = 3 OR exception_code IN (164, 497, 516)) ORDER BY event_time, query_id LIMIT 1000`,
    `SELECT ${rowColumns} FROM bench.query_log WHERE ${window} AND query_id NOT LIKE 'byoc-%' ORDER BY event_time, query_id LIMIT 1000`,
    `SELECT ${rowColumns} FROM bench.query_log WHERE ${window} AND arrayExists(t -> NOT match(t, '^(system|information_schema)\\\\.'), tables) ORDER BY event_time, query_id LIMIT 1000`,
  ].join(';\n');

  const time = (fn) => {
    const started = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  const byocRun = (since = '2d') => {
    const result = spawnSync(process.execPath, [BYOC, 'audit', 'query-log', 'sandbox', '--source-table', 'bench.query_log', '--since', since, '--json'], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 28 });
    if (result.status !== 0) throw new Error(`byoc audit failed: ${result.stderr}`);
    const parsed = JSON.parse(result.stdout);
    if (since === '2d' && parsed.findings.length === 0) throw new Error('the benchmark data should produce findings');
  };
  byocRun();
  client(handWritten, true);
  const runs = runsFromEnv(7);
  const byocTimes = [];
  const clientTimes = [];
  for (let i = 0; i < runs; i++) {
    byocTimes.push(time(byocRun));
    clientTimes.push(time(() => client(handWritten, true)));
  }
  // The same audit over an empty window: what each side costs before it reads a single row.
  const emptyWindow = handWritten.replaceAll('now() - 172800', 'now() - 1').replaceAll('today() - 2', 'today()');
  const fixed = { byoc: [], client: [] };
  for (let i = 0; i < runs; i++) {
    fixed.byoc.push(time(() => byocRun('1s')));
    fixed.client.push(time(() => client(emptyWindow, true)));
  }
  const minus = (a, b) => a.map((value, index) => value - b[index]);
  report(`audit (${ROWS.toLocaleString('en')} query_log rows, sandbox ClickHouse; ${runs} interleaved runs)`, [
    compare('audit report, wall time', byocTimes, clientTimes, { baselineName: 'clickhouse-client, hand-written SQL', budget: 1.2 }),
    compare('fixed start: empty window', fixed.byoc, fixed.client, { baselineName: 'clickhouse-client, same' }),
    compare('work on the rows: full minus empty window', minus(byocTimes, fixed.byoc), minus(clientTimes, fixed.client), { baselineName: 'clickhouse-client, same' }),
  ]);
} finally {
  if (process.env.BENCH_KEEP) console.log(JSON.stringify({ stateDir: sandbox.stateDir, cwd: sandbox.cwd }));
  else sandbox.stop();
}

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverUserFor } from '../../../src/access/server-user.js';
import { embeddedClient } from '../../../src/access/open.js';
import { startFakeClickHouse, type FakeClickHouse, type RecordedQuery } from '../../fakes/clickhouse-server.js';
import { FakeClock, runCli } from '../../fakes/context.js';
import { openTestBroker, testBrokerCa, testServerKeys } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';

const HOST = 'ch.acme.example';
type Answer = ReturnType<Parameters<typeof startFakeClickHouse>[0]['answer']>;
let answer: (query: RecordedQuery) => Answer = () => ({ names: ['x'], types: ['UInt8'], rows: [['1']] });
let modern: FakeClickHouse;
let old: FakeClickHouse;
let readonlyServer: FakeClickHouse;

beforeAll(async () => {
  const ca = await testBrokerCa();
  const { certPem, keyPem } = await testServerKeys([HOST]);
  const base = { certPem, keyPem, clientCa: ca.certPem, answer: (query: RecordedQuery) => answer(query) };
  modern = await startFakeClickHouse(base);
  old = await startFakeClickHouse({ ...base, unknownSettings: ['log_comment'] });
  readonlyServer = await startFakeClickHouse({ ...base, readonlyUser: true });
});
afterAll(async () => {
  await Promise.all([modern.close(), old.close(), readonlyServer.close()]);
});

/** An engineer with an approved request for acme-prod, whose ClickHouse is `server` (reached by a resolve override). */
async function engineer(server: FakeClickHouse, approved = true) {
  const stateDir = tempDir();
  const clock = new FakeClock(new Date());
  const { broker } = await openTestBroker(stateDir, clock);
  const request = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'merges stuck', ticket: 'INC-7', duration: '2h' });
  if (approved) await broker.approve('bob@vendor.example', request.id);
  const cwd = tempDir({ 'ca.pem': (await testBrokerCa()).certPem });
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), `network:\n  resolve: { ${HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${HOST}:${server.port}", caFile: ./ca.pem }\n`);
  const setup = { cwd, clock, env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) } };
  return { setup, requestId: request.id, broker };
}

describe('byoc query', () => {
  it('runs an allowed query with the certificate over mutual TLS, tagged for the audit', async () => {
    // Given an engineer with approved access and a ClickHouse that requires a client certificate
    answer = () => ({ names: ['database', 'table', 'rows'], types: ['String', 'String', 'UInt64'], rows: [['system', 'parts', '42']] });
    const { setup, requestId } = await engineer(modern);
    const before = modern.queries.length;
    // When a system-table query runs, piped
    const result = await runCli(['query', 'acme-prod', 'SELECT database, table, rows FROM system.parts'], setup);
    // Then the rows print as TSV with a header
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('database\ttable\trows\nsystem\tparts\t42\n');
    // And the server saw the engineer's certificate, the byoc query_id, user agent, log_comment and read-only settings
    const [sent] = modern.queries.slice(before);
    expect(sent!.commonName).toBe('alice@vendor.example');
    expect(sent!.authorization).toBeUndefined();
    // and logs in as the grant's own server user, authenticated by the certificate (no password)
    expect(sent!.user).toBe(serverUserFor(requestId, 'alice@vendor.example'));
    expect(sent!.certificateAuth).toBe('on');
    expect(sent!.queryId).toMatch(new RegExp(`^byoc-${requestId}-[0-9a-f-]{36}$`));
    expect(sent!.userAgent).toContain(`byoc/0.0.0-test (request ${requestId})`);
    expect(JSON.parse(sent!.settings.log_comment!)).toEqual({ byoc: { request: requestId, engineer: 'alice@vendor.example', ticket: 'INC-7' } });
    expect(sent!.settings).toMatchObject({ readonly: '1', max_result_rows: '100000', result_overflow_mode: 'break' });
  });

  it('falls back silently when the server does not know log_comment (old server)', async () => {
    answer = () => ({ names: ['x'], types: ['UInt8'], rows: [['1']] });
    const { setup } = await engineer(old);
    const before = old.queries.length;
    const result = await runCli(['query', 'acme-prod', 'SELECT 1 AS x FROM system.one'], setup);
    expect(result).toMatchObject({ exitCode: 0, stderr: '' });
    const attempts = old.queries.slice(before);
    expect(attempts.map((query) => 'log_comment' in query.settings)).toEqual([true, false]);
    expect(attempts[1]!.settings.readonly).toBe('1');
    expect(attempts[0]!.queryId).toBe(attempts[1]!.queryId);
  });

  it('falls back to no settings for a read-only user, and still tags the query_id', async () => {
    answer = () => ({ names: ['x'], types: ['UInt8'], rows: [['1']] });
    const { setup } = await engineer(readonlyServer);
    const before = readonlyServer.queries.length;
    const result = await runCli(['query', 'acme-prod', 'SELECT 1 AS x FROM system.one'], setup);
    expect(result.exitCode).toBe(0);
    const last = readonlyServer.queries.slice(before).at(-1)!;
    expect(last.settings).toEqual({});
    expect(last.queryId).toMatch(/^byoc-r-/);
  });

  it('refuses a query on a customer table before any network call (exit 4)', async () => {
    const { setup } = await engineer(modern);
    const before = modern.queries.length;
    const result = await runCli(['query', 'acme-prod', 'SELECT * FROM default.orders', '--json'], setup);
    expect(result.exitCode).toBe(4);
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'query_refused', message: expect.stringContaining('default.orders') });
    expect(modern.queries.length).toBe(before);
  });

  it('without approved access, says what to do next (exit 4), before any network call', async () => {
    const { setup, requestId } = await engineer(modern, false);
    const result = await runCli(['query', 'acme-prod', 'SELECT 1 FROM system.one'], setup);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain(`byoc access wait ${requestId}`);
  });

  it('reports a server refusal clearly (exit 4)', async () => {
    answer = () => ({ error: { code: 497, message: 'byoc_alice: Not enough privileges. To execute this query, it is necessary to have the grant SELECT ON system.users. (ACCESS_DENIED)' } });
    const { setup } = await engineer(modern);
    const result = await runCli(['query', 'acme-prod', 'SELECT * FROM system.users'], setup);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain('ClickHouse refused the query');
    expect(result.stderr).toContain('Not enough privileges');
  });

  it('prints a sized table on a TTY, JSON with typed values under --json, and NDJSON / CSV on request', async () => {
    answer = () => ({ names: ['table', 'parts', 'bytes', 'note'], types: ['String', 'UInt32', 'UInt64', 'Nullable(String)'], rows: [['merges', '7', '18446744073709551615', '\\N'], ['a\\tb', '12', '1', 'x']] });
    const { setup, requestId } = await engineer(modern);
    const sql = 'SELECT table, parts, bytes, note FROM system.parts';
    const tty = await runCli(['query', 'acme-prod', sql], { ...setup, stdoutTTY: true });
    expect(tty.stdout).toContain('\u001b[1m');
    expect(stripVTControlCharacters(tty.stdout).split('\n').slice(0, 3)).toEqual(['table   parts  bytes                 note', 'merges  7      18446744073709551615  NULL', 'a b     12     1                     x']);
    const json = JSON.parse((await runCli(['query', 'acme-prod', sql, '--json'], setup)).stdout);
    expect(json).toMatchObject({ requestId, columns: [{ name: 'table', type: 'String' }, { name: 'parts', type: 'UInt32' }, { name: 'bytes', type: 'UInt64' }, { name: 'note', type: 'Nullable(String)' }], rowCount: 2 });
    expect(json.rows[0]).toEqual({ table: 'merges', parts: 7, bytes: '18446744073709551615', note: null });
    expect(json.rows[1].table).toBe('a\tb');
    const ndjson = await runCli(['query', 'acme-prod', sql, '--format', 'ndjson'], setup);
    expect(ndjson.stdout.trim().split('\n').map((line) => JSON.parse(line).table)).toEqual(['merges', 'a\\tb']);
    const csv = await runCli(['query', 'acme-prod', sql, '--format', 'csv'], setup);
    expect(csv.stdout.split('\n')[0]).toBe('"table","parts","bytes","note"');
  });

  it('stops at --max-rows and says so on stderr', async () => {
    answer = () => ({ names: ['number'], types: ['UInt64'], rows: Array.from({ length: 50 }, (_, index) => [String(index)]) });
    const { setup } = await engineer(modern);
    const result = await runCli(['query', 'acme-prod', 'SELECT number FROM system.numbers LIMIT 50', '--max-rows', '10'], setup);
    expect(result.stdout.trim().split('\n')).toHaveLength(11);
    expect(result.stderr).toContain('stopped after 10 rows');
  });

  it('runs a preset, reads SQL from a file or stdin, and refuses two sources at once', async () => {
    answer = (query) => ({ names: ['sql'], types: ['String'], rows: [[query.sql.replace(/\s+/g, ' ').slice(0, 30)]] });
    const { setup } = await engineer(modern);
    expect((await runCli(['query', 'acme-prod', '--preset', 'merges'], setup)).exitCode).toBe(0);
    writeFileSync(path.join(setup.cwd, 'diag.sql'), 'SELECT 2 FROM system.one');
    expect((await runCli(['query', 'acme-prod', '--file', 'diag.sql'], setup)).stdout).toContain('SELECT 2 FROM system.one');
    expect((await runCli(['query', 'acme-prod', '-'], { ...setup, stdin: 'SELECT 3 FROM system.one' })).stdout).toContain('SELECT 3');
    expect((await runCli(['query', 'acme-prod', 'SELECT 1', '--preset', 'merges'], setup)).exitCode).toBe(2);
    const unknown = await runCli(['query', 'acme-prod', '--preset', 'nope'], setup);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('merges');
  });
});

/** A server's answer to the presets' schema query: (kind, table, name, type) rows. */
function schemaAnswer(rows: string[][]): Answer {
  return { names: ['kind', 'table', 'name', 'type'], types: ['String', 'String', 'String', 'String'], rows };
}
const isSchemaQuery = (query: RecordedQuery) => query.sql.includes("SELECT 'column' AS kind");
const OLD_SERVER = [
  ...['database', 'table', 'mutation_id', 'command', 'create_time', 'parts_to_do', 'is_done'].map((name) => ['column', 'mutations', name, 'String']),
  ['version', '', '18.16.1', ''],
];
const CURRENT_SERVER = [
  ...['database', 'table', 'absolute_delay', 'queue_size'].map((name) => ['column', 'replicas', name, 'String']),
  ['function', '', 'clusterAllReplicas', ''],
  ['cluster', '', 'main', ''],
  ['version', '', '25.8.1.1', ''],
];

describe('byoc query --preset on the server it runs on', () => {
  it('reads the schema first, then sends the preset as that server can run it; a missing table is an empty result and a note (exit 0)', async () => {
    // Given an 18.16-like server: system.mutations without latest_fail_*, no system.errors
    answer = (query) => (isSchemaQuery(query) ? schemaAnswer(OLD_SERVER) : { names: ['x'], types: ['String'], rows: [] });
    const { setup, requestId } = await engineer(modern);
    const before = modern.queries.length;
    // When the mutations preset runs
    const mutations = await runCli(['query', 'acme-prod', '--preset', 'mutations'], setup);
    // Then two tagged queries went out: the schema, then the mutations SQL without the columns the server lacks
    expect(mutations).toMatchObject({ exitCode: 0, stderr: '' });
    const [schema, sent] = modern.queries.slice(before);
    expect(schema!.sql).toContain("table IN ('mutations')");
    expect(schema!.queryId).toMatch(new RegExp(`^byoc-${requestId}-`));
    expect(sent!.sql).toContain('FROM system.mutations');
    expect(sent!.sql).not.toContain('latest_fail_reason');
    // When the errors preset runs there / Then exit 0, an empty result, and a one-line note on stderr
    const errors = await runCli(['query', 'acme-prod', '--preset', 'errors', '--json'], setup);
    expect(errors.exitCode).toBe(0);
    expect(JSON.parse(errors.stdout)).toMatchObject({ rows: [], rowCount: 0 });
    expect(errors.stderr.trim()).toBe('warning: this server (ClickHouse 18.16.1) has no system.errors (a later ClickHouse added it): preset errors has nothing to show here');
    expect(modern.queries.at(-1)!.sql).toMatch(/FROM system\.one WHERE 0/);
  });

  it('a cluster-* preset needs --cluster: a usage error naming the flag, before any network call', async () => {
    const { setup } = await engineer(modern);
    const before = modern.queries.length;
    const result = await runCli(['query', 'acme-prod', '--preset', 'cluster-replica-delays'], setup);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('name it with --cluster');
    expect(result.stderr).toContain('--preset replica-delays for this server only');
    expect(modern.queries.length).toBe(before);
  });

  it('a cluster the server does not have is a usage error listing those it has', async () => {
    // Given a current server with one cluster, main
    answer = (query) => (isSchemaQuery(query) ? schemaAnswer(CURRENT_SERVER) : { names: ['x'], types: ['String'], rows: [] });
    const { setup } = await engineer(modern);
    const before = modern.queries.length;
    // When another cluster is named / Then exit 2 with the clusters there, and only the schema query was sent
    const result = await runCli(['query', 'acme-prod', '--preset', 'cluster-replica-delays', '--cluster', 'nope'], setup);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('no cluster named "nope"');
    expect(result.stderr).toContain('Clusters there: main');
    expect(modern.queries.length).toBe(before + 1);
    // And a --cluster value that is no cluster name is refused by the option itself
    expect((await runCli(['query', 'acme-prod', '--preset', 'cluster-parts', '--cluster', "x' OR 1"], setup)).exitCode).toBe(2);
  });
});

describe('byoc query --check --file (a runbook)', () => {
  const runbook = [
    '-- stuck merges; then parts',
    'SELECT database, table FROM system.merges;',
    '',
    "/* ; */ SELECT 'a;b' AS x, `c;d` FROM system.one;",
    'SELECT * FROM default.orders;',
    'SELECT name FROM system.tables -- last; no terminator',
  ].join('\n');

  it('reports each statement with its line, verdict and reason; exit 4 when any is refused', async () => {
    // Given a runbook whose third statement reads a customer table
    const cwd = tempDir({ 'runbook.sql': runbook });
    // When checked as text
    const text = await runCli(['query', '--check', '--file', 'runbook.sql'], { cwd });
    // Then one line per statement (the ; in the string, the quoted name and the comments do not split), and exit 4
    expect(text.exitCode).toBe(4);
    expect(text.stdout.trim().split('\n').map((line) => line.split('\t').slice(0, 2))).toEqual([
      ['2', 'allowed'],
      ['4', 'allowed'],
      ['5', 'refused'],
      ['6', 'allowed'],
    ]);
    expect(text.stdout).toContain('default.orders');
    expect(text.stderr).toContain('1 of 4 statements in runbook.sql refused (line 5)');
    // When checked with --json / Then NDJSON, one object per statement
    const json = await runCli(['query', '--check', '--file', 'runbook.sql', '--json'], { cwd });
    expect(json.exitCode).toBe(4);
    const objects = json.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(objects).toHaveLength(4);
    expect(objects[1]).toEqual({ line: 4, allowed: true, reason: expect.any(String), tables: ['system.one'], statement: "SELECT 'a;b' AS x, `c;d` FROM system.one" });
    expect(objects[2]).toMatchObject({ line: 5, allowed: false, tables: ['default.orders'] });
  });

  it('exit 0 when every statement is allowed; a table on a TTY; a file with no statement is a usage error', async () => {
    const cwd = tempDir({ 'ok.sql': 'SELECT 1 FROM system.one;\nSELECT 2 FROM system.one;\n', 'empty.sql': '-- nothing; here\n;' });
    const ok = await runCli(['query', '--check', '--file', 'ok.sql'], { cwd });
    expect(ok).toMatchObject({ exitCode: 0, stderr: '' });
    expect(ok.stdout.trim().split('\n')).toHaveLength(2);
    const tty = await runCli(['query', '--check', '--file', 'ok.sql'], { cwd, stdoutTTY: true });
    expect(tty.exitCode).toBe(0);
    expect(stripVTControlCharacters(tty.stdout)).toMatch(/^LINE\s+VERDICT\s+STATEMENT\s+REASON\n1\s+✓ allowed\s+SELECT 1 FROM system\.one\s+read-only SELECT/);
    expect(stripVTControlCharacters(tty.stdout)).toContain('all 2 statements in ok.sql allowed');
    const empty = await runCli(['query', '--check', '--file', 'empty.sql'], { cwd });
    expect(empty.exitCode).toBe(2);
    expect(empty.stderr).toContain('empty.sql has no SQL statements');
  });
});

describe('byoc query --check', () => {
  it('validates without service, certificate or network: exit 0 allowed, 4 refused', async () => {
    const allowed = await runCli(['query', '--check', 'SELECT name FROM system.tables', '--json']);
    expect(allowed.exitCode).toBe(0);
    expect(JSON.parse(allowed.stdout)).toEqual({ allowed: true, reason: expect.any(String), tables: ['system.tables'] });
    const refused = await runCli(['query', '--check', '-', '--json'], { stdin: 'SELECT * FROM default.orders' });
    expect(refused.exitCode).toBe(4);
    expect(JSON.parse(refused.stdout)).toMatchObject({ allowed: false, tables: ['default.orders'] });
  });
});

describe('byoc query presets', () => {
  it('lists name and explanation, and the SQL under --json', async () => {
    const result = await runCli(['query', 'presets']);
    expect(result.stdout).toMatch(/^merges\t.+$/m);
    const json = JSON.parse((await runCli(['query', 'presets', '--json'])).stdout);
    expect(json.presets.length).toBeGreaterThanOrEqual(12);
    expect(json.presets[0]).toEqual({ name: 'parts', description: expect.any(String), table: 'system.parts', needsCluster: false, sql: expect.stringMatching(/FROM system\.parts/) });
    expect(json.presets.find((preset: { name: string }) => preset.name === 'cluster-parts')).toMatchObject({ needsCluster: true, sql: expect.stringContaining("clusterAllReplicas('CLUSTER', system.parts)") });
  });
});

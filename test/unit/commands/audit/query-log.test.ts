import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueServerCertificate } from '../../../../src/pki/ca.js';
import { generateKeyPairPem } from '../../../../src/pki/x509.js';
import { startFakeClickHouse, type FakeClickHouse, type RecordedQuery } from '../../../fakes/clickhouse-server.js';
import { runCli } from '../../../fakes/context.js';
import { testBrokerCa } from '../../../fakes/broker.js';
import { tempDir } from '../../../fakes/fs.js';

/** A current server's query_log columns: enum `type`, log_comment, tables, exception_code. */
const MODERN_COLUMNS = [
  ['type', "Enum8('QueryStart' = 1, 'QueryFinish' = 2, 'ExceptionBeforeStart' = 3, 'ExceptionWhileProcessing' = 4)"],
  ['event_date', 'Date'], ['event_time', 'DateTime'], ['event_time_microseconds', 'DateTime64(6)'], ['query_duration_ms', 'UInt64'],
  ['read_rows', 'UInt64'], ['read_bytes', 'UInt64'], ['query', 'String'], ['query_kind', "LowCardinality(String)"], ['databases', 'Array(LowCardinality(String))'],
  ['tables', 'Array(LowCardinality(String))'], ['exception_code', 'Int32'], ['exception', 'String'], ['user', 'String'], ['query_id', 'String'], ['log_comment', 'String'],
];

const T0 = Date.parse('2026-11-21T09:00:00Z') / 1000;
const row = (offset: number, user: string, request: string, queryId: string, type: number, error: string, tables: string, query: string) =>
  [String(T0 + offset), user, request, queryId, String(type), '10', '1000', '3', error, tables, query];

const answers = {
  summary: [
    ['byoc_alice_vendor_example', 'r-aaaaaaaaaa', String(T0 + 60), String(T0 + 600), '5', '2', '1', '120', '12000'],
    ['byoc_alice_vendor_example', '', String(T0 + 700), String(T0 + 700), '1', '0', '0', '1', '10'],
  ],
  denied: [row(300, 'byoc_alice_vendor_example', 'r-aaaaaaaaaa', 'byoc-r-aaaaaaaaaa-1', 4, 'Code: 497. DB::Exception: byoc_alice_vendor_example: Not enough privileges. (ACCESS_DENIED)', "['default.orders']", 'SELECT * FROM default.orders')],
  foreign: [row(300, 'byoc_alice_vendor_example', 'r-aaaaaaaaaa', 'byoc-r-aaaaaaaaaa-1', 4, 'Code: 497', "['default.orders','system.one']", 'SELECT * FROM default.orders')],
  untagged: [row(700, 'byoc_alice_vendor_example', '', 'ad-hoc-1', 2, '', "['system.one']", 'SELECT 1')],
  outside: [row(600, 'byoc_alice_vendor_example', 'r-aaaaaaaaaa', 'byoc-r-aaaaaaaaaa-5', 2, '', "['system.parts']", 'SELECT * FROM system.parts')],
  list: [row(60, 'byoc_alice_vendor_example', 'r-aaaaaaaaaa', 'byoc-r-aaaaaaaaaa-0', 2, '', "['system.merges']", 'SELECT * FROM system.merges')],
};

function answer(query: RecordedQuery) {
  const rows = (data: string[][]) => ({ names: [], types: [], rows: data });
  if (query.sql.includes('FROM system.columns')) return rows(MODERN_COLUMNS);
  if (query.sql.startsWith('SYSTEM FLUSH LOGS')) return rows([]);
  if (query.sql.includes('GROUP BY user, request_id')) return rows(answers.summary);
  if (query.sql.includes('exception_code IN') && query.sql.includes('LIMIT')) return rows(answers.denied);
  if (query.sql.includes('arrayExists(t ->')) return rows(answers.foreign);
  if (query.sql.includes("query_id NOT LIKE 'byoc-%'")) return rows(answers.untagged);
  if (query.sql.includes('AND NOT ((request_id =')) return rows(answers.outside);
  return rows(answers.list);
}

let server: FakeClickHouse;
let caPem: string;
beforeAll(async () => {
  const ca = await testBrokerCa();
  caPem = ca.certPem;
  const keys = await generateKeyPairPem();
  const certPem = issueServerCertificate(ca, { publicKeyPem: keys.publicKeyPem, names: ['clickhouse.customer.example'], notBefore: new Date('2026-01-01'), notAfter: new Date('2027-01-01') });
  server = await startFakeClickHouse({ certPem, keyPem: keys.privateKeyPem, answer });
});
afterAll(() => server.close());

function workspace() {
  const cwd = tempDir({ 'ca.pem': caPem });
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), `network:\n  resolve: { clickhouse.customer.example: 127.0.0.1 }\naudit:\n  url: "https://clickhouse.customer.example:${server.port}"\n  user: auditor\n  caFile: ./ca.pem\n`);
  writeFileSync(
    path.join(cwd, 'grants.json'),
    JSON.stringify({ requests: [{ id: 'r-aaaaaaaaaa', requester: 'alice@vendor.example', status: 'approved', approvedAt: '2026-11-21T09:00:30.000Z', notAfter: '2026-11-21T09:05:00.000Z' }] }),
  );
  return { cwd, env: { AUDIT_SECRET: 's3cret' } };
}

describe('byoc audit query-log on a current server (modern query_log shape)', () => {
  it('adapts its SQL to the columns it finds and reports per request and engineer', async () => {
    // Given a server whose query_log has log_comment, tables and exception_code
    const before = server.queries.length;
    // When the customer audits with their own credentials and the grants
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--grants', 'grants.json', '--since', '2026-11-21T08:00:00Z', '--until', '2026-11-21T10:00:00Z', '--json'], workspace());
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout);
    // Then the SQL used the modern columns, and only the customer's credentials
    const sent = server.queries.slice(before);
    expect(sent[0]!.sql).toContain('FROM system.columns');
    expect(sent.every((query) => query.authorization === `Basic ${Buffer.from('auditor:s3cret').toString('base64')}`)).toBe(true);
    expect(sent.some((query) => query.sql.includes('exception_code IN'))).toBe(true);
    expect(sent.some((query) => query.sql.includes('arrayExists(t ->'))).toBe(true);
    expect(report.schema).toEqual({ logComment: true, tables: true, typeIsEnum: true, exceptionCode: true });
    // And the report ties activity to requests and engineers (identity from the grants)
    expect(report.requests[0]).toMatchObject({ requestId: 'r-aaaaaaaaaa', engineers: ['alice@vendor.example'], queries: 5, failures: 2, denied: 1, readRows: 120, grant: { from: '2026-11-21T09:00:30.000Z' } });
    expect(report.engineers).toEqual([expect.objectContaining({ engineer: 'alice@vendor.example', queries: 6, requests: ['r-aaaaaaaaaa', null] })]);
    // And every kind of finding is there, oldest first
    expect(report.findings.map((finding: { kind: string }) => finding.kind)).toEqual(['denied', 'non-system-table', 'outside-window', 'untagged']);
    expect(report.findings[1]).toMatchObject({ detail: 'alice@vendor.example referenced default.orders', row: { tables: ['default.orders', 'system.one'] } });
  });

  it('--findings-only exits 4 when there are findings, with only findings in the output', async () => {
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--findings-only'], workspace());
    expect(result.exitCode).toBe(4);
    expect(result.stdout.split('\n').filter(Boolean).every((line) => line.startsWith('finding\t'))).toBe(true);
    expect(result.stderr).toContain('finding(s)');
  });

  it('prints findings first on a TTY', async () => {
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET'], { ...workspace(), stdoutTTY: true });
    const text = result.stdout;
    expect(text.indexOf('findings')).toBeLessThan(text.indexOf('Per request'));
    expect(text).toMatch(/denied\s+.*alice@vendor\.example|denied\s+/);
  });

  it('streams the query list as NDJSON or CSV with --format', async () => {
    const ndjson = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--format', 'ndjson'], workspace());
    expect(JSON.parse(ndjson.stdout.trim())).toMatchObject({ queryId: 'byoc-r-aaaaaaaaaa-0', requestId: 'r-aaaaaaaaaa', type: 'finish', tables: ['system.merges'] });
    const csv = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--format', 'csv'], workspace());
    expect(csv.stdout.split('\n')[0]).toBe('"time","engineer","requestId","queryId","type","readRows","readBytes","durationMs","error","query"');
  });

  it('reads every replica with --cluster and an exported copy with --source-table', async () => {
    const before = server.queries.length;
    await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--cluster', 'main', '--source-table', 'archive.query_log_2026'], workspace());
    const sent = server.queries.slice(before);
    expect(sent[0]!.sql).toContain("database = 'archive' AND table = 'query_log_2026'");
    expect(sent.find((query) => query.sql.includes('GROUP BY'))!.sql).toContain("clusterAllReplicas('main', `archive`.`query_log_2026`)");
  });

  it('names the key of an unreadable CA file (exit 3) instead of crashing', async () => {
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--ca', 'missing.pem'], workspace());
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('audit.caFile: cannot read');
  });

  it('refuses a password given any other way than an environment variable, and a missing URL', async () => {
    const noUrl = await runCli(['audit', 'query-log'], { cwd: tempDir() });
    expect(noUrl.exitCode).toBe(3);
    expect(noUrl.stderr).toContain('--url');
    expect((await runCli(['audit', 'query-log', '--password', 'x'], workspace())).exitCode).toBe(2);
  });
});

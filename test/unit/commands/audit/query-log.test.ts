import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeClickHouse, type FakeClickHouse, type RecordedQuery } from '../../../fakes/clickhouse-server.js';
import { runCli } from '../../../fakes/context.js';
import { testBrokerCa, testServerKeys } from '../../../fakes/broker.js';
import { tempDir } from '../../../fakes/fs.js';

/** A current server's query_log columns: enum `type`, log_comment, tables, exception_code. */
const MODERN_COLUMNS = [
  ['type', "Enum8('QueryStart' = 1, 'QueryFinish' = 2, 'ExceptionBeforeStart' = 3, 'ExceptionWhileProcessing' = 4)"],
  ['event_date', 'Date'], ['event_time', 'DateTime'], ['event_time_microseconds', 'DateTime64(6)'], ['query_duration_ms', 'UInt64'],
  ['read_rows', 'UInt64'], ['read_bytes', 'UInt64'], ['query', 'String'], ['query_kind', "LowCardinality(String)"], ['databases', 'Array(LowCardinality(String))'],
  ['tables', 'Array(LowCardinality(String))'], ['exception_code', 'Int32'], ['exception', 'String'], ['user', 'String'], ['query_id', 'String'], ['log_comment', 'String'],
];

const T0 = Date.parse('2026-11-21T09:00:00Z') / 1000;
/** alice's server user for request r-aaaaaaaaaa (byoc_r_<id>_<identity>), and a legacy per-engineer user */
const ALICE = 'byoc_r_aaaaaaaaaa_alice_40vendor_2eexample';
const LEGACY = 'byoc_alice_vendor_example';
/** A row as the audit SELECTs it: the request id the query_id tag names (tag_request), not the attributed one. */
const row = (offset: number, user: string, tag: string, queryId: string, type: number, error: string, tables: string, query: string) =>
  [String(T0 + offset), user, tag, queryId, String(type), '10', '1000', '3', error, tables, query];

const answers = {
  summary: [
    [ALICE, 'r-aaaaaaaaaa', String(T0 + 60), String(T0 + 700), '6', '2', '1', '121', '12010'],
    [LEGACY, 'r-dddddddddd', String(T0 + 800), String(T0 + 800), '1', '0', '0', '1', '10'],
  ],
  denied: [row(300, ALICE, 'r-aaaaaaaaaa', 'byoc-r-aaaaaaaaaa-1', 4, `Code: 497. DB::Exception: ${ALICE}: Not enough privileges. (ACCESS_DENIED)`, "['default.orders']", 'SELECT * FROM default.orders')],
  foreign: [row(300, ALICE, 'r-aaaaaaaaaa', 'byoc-r-aaaaaaaaaa-1', 4, 'Code: 497', "['default.orders','system.one']", 'SELECT * FROM default.orders')],
  // alice's user, untagged once and once tagged as bob's request r-cccccccccc
  tags: [row(650, ALICE, 'r-cccccccccc', 'byoc-r-cccccccccc-forged', 2, '', "['system.one']", 'SELECT 1'), row(700, ALICE, '', 'ad-hoc-1', 2, '', "['system.one']", 'SELECT 1')],
  outside: [row(600, ALICE, 'r-aaaaaaaaaa', 'byoc-r-aaaaaaaaaa-5', 2, '', "['system.parts']", 'SELECT * FROM system.parts')],
  list: [row(60, ALICE, 'r-aaaaaaaaaa', 'byoc-r-aaaaaaaaaa-0', 2, '', "['system.merges']", 'SELECT * FROM system.merges')],
  // candidates the server finds by `tables`: only the one that reads the text column is a finding
  queryText: [
    row(400, ALICE, 'r-aaaaaaaaaa', 'byoc-r-aaaaaaaaaa-7', 2, '', "['system.query_log']", "SELECT user, query FROM system.query_log WHERE query LIKE '%4111%'"),
    row(410, ALICE, 'r-aaaaaaaaaa', 'byoc-r-aaaaaaaaaa-8', 2, '', "['system.query_log']", 'SELECT count(*), user FROM system.query_log GROUP BY user'),
  ],
  // system.session_log: time, user, address, interface, reason
  logins: [[String(T0 + 500), ALICE, '::ffff:10.0.0.9', 'HTTP', 'Code: 516. AUTHENTICATION_FAILED: password is incorrect']],
};

function answer(query: RecordedQuery) {
  const rows = (data: string[][]) => ({ names: [], types: [], rows: data });
  // a server exception quoting a URL with credentials in it (as a failing url()/s3() table would)
  if (query.sql.includes("database = 'leaky'")) return { error: { code: 1000, message: 'Poco: cannot reach https://backup:Hunter2Secret@backup.example/x?X-Amz-Credential=AKIA7&token=Tok3nSecret' } };
  if (query.sql.includes('FROM system.columns')) return rows(MODERN_COLUMNS);
  if (query.sql.includes("name = 'session_log'")) return rows([['1']]);
  if (query.sql.includes('FROM system.session_log')) return rows(answers.logins);
  if (query.sql.startsWith('SYSTEM FLUSH LOGS')) return rows([]);
  if (query.sql.includes('GROUP BY user, tag_key')) return rows(answers.summary);
  if (query.sql.includes('LIMIT 1000 BY finding')) {
    // one pass, each row once per kind it is (numbered as FINDING_CODES), oldest first; only the kinds the SQL asks for
    const kinds = (code: number, data: string[][], asked: boolean) => (asked ? data.map((fields) => [String(code), ...fields]) : []);
    return rows(
      [
        ...kinds(1, answers.denied, query.sql.includes('exception_code IN')),
        ...kinds(4, answers.foreign, query.sql.includes('arrayExists(t ->')),
        ...kinds(5, answers.outside, query.sql.includes('AND NOT ((request_id =')),
        ...kinds(3, answers.tags.slice(0, 1), query.sql.includes("(tag_request != '' AND (substring(user, 1, 7) = 'byoc_r_'")),
        ...kinds(2, answers.tags.slice(1), query.sql.includes("if(tag_request = '', 2, 0)")),
        ...kinds(6, answers.queryText, query.sql.includes("hasAny(tables, ['system.query_log'")),
      ].sort((a, b) => Number(a[1]) - Number(b[1])),
    );
  }
  return rows(answers.list);
}

let server: FakeClickHouse;
let caPem: string;
let serverCert: { certPem: string; keyPem: string };
beforeAll(async () => {
  const ca = await testBrokerCa();
  caPem = ca.certPem;
  serverCert = await testServerKeys(['clickhouse.customer.example']);
  server = await startFakeClickHouse({ ...serverCert, answer });
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
    // And the report ties activity to requests and engineers, read from the server users
    expect(report.requests[0]).toMatchObject({ requestId: 'r-aaaaaaaaaa', engineers: ['alice@vendor.example'], queries: 6, failures: 2, denied: 1, readRows: 121, grant: { from: '2026-11-21T09:00:30.000Z' } });
    expect(report.engineers).toEqual([
      expect.objectContaining({ engineer: 'alice@vendor.example', users: [ALICE], queries: 6, requests: ['r-aaaaaaaaaa'] }),
      expect.objectContaining({ engineer: LEGACY, users: [LEGACY], queries: 1, requests: ['r-dddddddddd'] }),
    ]);
    // And every kind of finding is there, oldest first
    expect(report.findings.map((finding: { kind: string }) => finding.kind)).toEqual(['denied', 'non-system-table', 'query-text-read', 'login-failed', 'outside-window', 'tag-mismatch', 'untagged']);
    expect(report.findings[1]).toMatchObject({ detail: 'alice@vendor.example referenced default.orders', row: { tables: ['default.orders', 'system.one'] } });
    // And the read of other users' query texts names what was read and how many rows; a count over the log is none
    expect(report.findings[2]).toMatchObject({ detail: "alice@vendor.example read other users' query texts (query of system.query_log): 10 rows read", row: { queryId: 'byoc-r-aaaaaaaaaa-7', readRows: 10 } });
    // And the failed login comes from the session log, with the server's reason
    expect(report.findings[3]).toMatchObject({
      detail: `alice@vendor.example failed to log in as ${ALICE}: Code: 516. AUTHENTICATION_FAILED: password is incorrect from ::ffff:10.0.0.9 over HTTP`,
      row: { type: 'login-failure', requestId: 'r-aaaaaaaaaa', time: '2026-11-21T09:08:20.000Z' },
    });
    expect(report.notes).toEqual([]);
    expect(report.findings[5]).toMatchObject({
      kind: 'tag-mismatch',
      detail: 'alice@vendor.example ran a query as the server user of r-aaaaaaaaaa tagged for r-cccccccccc (query_id byoc-r-cccccccccc-forged): the tag does not match the grant',
      row: { user: ALICE, engineer: 'alice@vendor.example', requestId: 'r-aaaaaaaaaa', taggedRequestId: 'r-cccccccccc' },
    });
  });

  it('names engineers and requests with no --grants, and sends no window check', async () => {
    // Given no grants file
    const before = server.queries.length;
    // When the customer audits
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--json'], workspace());
    // Then the engineer and request come from the users the server logged
    expect(result.exitCode, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.requests[0]).toMatchObject({ requestId: 'r-aaaaaaaaaa', engineers: ['alice@vendor.example'] });
    expect(report.requests[0].grant).toBeUndefined();
    // And the forged tag is still a finding; only outside-window needs the grants
    expect(report.findings.map((finding: { kind: string }) => finding.kind)).toEqual(['denied', 'non-system-table', 'query-text-read', 'login-failed', 'tag-mismatch', 'untagged']);
    expect(server.queries.slice(before).some((query) => query.sql.includes('AND NOT ((request_id ='))).toBe(false);
  });

  it('--engineer selects an identity by its per-request users and a user by its name, never by a folded name', async () => {
    const before = server.queries.length;
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--engineer', 'alice@vendor.example,byoc_bob_vendor_example', '--json'], workspace());
    expect(result.exitCode, result.stderr).toBe(0);
    const summary = server.queries.slice(before).find((query) => query.sql.includes('GROUP BY'))!.sql;
    expect(summary).toContain("(user IN ('alice@vendor.example', 'byoc_bob_vendor_example') OR (user_request != '' AND substring(user, length(user_request) + 9) IN ('alice_40vendor_2eexample', ");
    // the legacy fold of the identity is not how an engineer is selected any more
    expect(summary).not.toContain('byoc_alice_vendor_example');
  });

  it('--findings-only exits 4 when there are findings, with only findings in the output', async () => {
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--findings-only'], workspace());
    expect(result.exitCode).toBe(4);
    const lines = result.stdout.split('\n').filter(Boolean);
    expect(lines.every((line) => line.startsWith('finding\t'))).toBe(true);
    // the tag mismatch is a finding line like the others: kind, time, engineer, the user's request, query_id, detail
    expect(lines).toContain(
      'finding\ttag-mismatch\t2026-11-21T09:10:50.000Z\talice@vendor.example\tr-aaaaaaaaaa\tbyoc-r-cccccccccc-forged\talice@vendor.example ran a query as the server user of r-aaaaaaaaaa tagged for r-cccccccccc (query_id byoc-r-cccccccccc-forged): the tag does not match the grant',
    );
    expect(result.stderr).toContain('6 finding(s)');
  });

  it('--findings-only --json exits 4 on a tag mismatch alone', async () => {
    // Given a server whose only finding is a forged tag
    const only = await startFakeClickHouse({
      certPem: serverCert.certPem,
      keyPem: serverCert.keyPem,
      answer: (query) => {
        const rows = (data: string[][]) => ({ names: [], types: [], rows: data });
        if (query.sql.includes('FROM system.columns')) return rows(MODERN_COLUMNS);
        if (query.sql.includes("name = 'session_log'")) return rows([['0']]);
        if (query.sql.includes('GROUP BY user, tag_key')) return rows(answers.summary);
        if (query.sql.includes('LIMIT 1000 BY finding')) return rows([['3', ...answers.tags[0]!]]);
        return rows([]);
      },
    });
    try {
      const { cwd, env } = workspace();
      writeFileSync(path.join(cwd, 'byoc.config.yaml'), `network:\n  resolve: { clickhouse.customer.example: 127.0.0.1 }\naudit:\n  url: "https://clickhouse.customer.example:${only.port}"\n  user: auditor\n  caFile: ./ca.pem\n`);
      // When the customer's scheduled job runs
      const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--findings-only', '--json'], { cwd, env });
      // Then it exits 4 with the finding in the JSON
      expect(result.exitCode).toBe(4);
      expect(JSON.parse(result.stdout).findings).toEqual([expect.objectContaining({ kind: 'tag-mismatch', row: expect.objectContaining({ taggedRequestId: 'r-cccccccccc' }) })]);
      expect(result.stderr).toContain('1 finding(s)');
    } finally {
      await only.close();
    }
  });

  it('prints findings first on a TTY', async () => {
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET'], { ...workspace(), stdoutTTY: true });
    const text = result.stdout;
    expect(text.indexOf('findings')).toBeLessThan(text.indexOf('Per request'));
    expect(text).toMatch(/denied\s+\S+( ago)?\s+alice@vendor\.example/);
    expect(text).toMatch(/tag-mismatch\s+\S+( ago)?\s+alice@vendor\.example\s+r-aaaaaaaaaa/);
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

describe('byoc audit query-log: credentials never in a URL', () => {
  it('refuses a user name and password in --url (exit 2) without echoing them, and sends nothing', async () => {
    // Given a URL carrying a password, for the (fake) server the workspace reaches
    const before = server.queries.length;
    const result = await runCli(['audit', 'query-log', '--url', `https://auditor:Hunter2Secret@clickhouse.customer.example:${server.port}/`, '--json'], workspace());
    // Then it is refused as bad input, the password appears nowhere, and no request was made
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'url_credentials', hint: expect.stringContaining('CLICKHOUSE_PASSWORD') });
    expect(result.stderr + result.stdout).not.toContain('Hunter2Secret');
    expect(result.stderr).not.toContain('auditor:');
    expect(server.queries.length).toBe(before);
  });

  it('refuses one in the configuration (audit.url) the same way, naming the setting', async () => {
    const { cwd, env } = workspace();
    writeFileSync(path.join(cwd, 'byoc.config.yaml'), 'audit:\n  url: "https://auditor:Hunter2Secret@clickhouse.customer.example:8443"\n');
    const result = await runCli(['audit', 'query-log'], { cwd, env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('audit.url');
    expect(result.stderr).not.toContain('Hunter2Secret');
  });

  it('refuses ?user= and ?password= in --url too (ClickHouse reads them), without echoing them', async () => {
    const before = server.queries.length;
    const result = await runCli(['audit', 'query-log', '--url', `https://clickhouse.customer.example:${server.port}/?user=auditor&password=Hunter2Secret`, '--json'], workspace());
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'url_credentials' });
    expect(result.stderr + result.stdout).not.toContain('Hunter2Secret');
    expect(server.queries.length).toBe(before);
  });

  it('masks credentials a server error quotes, in the message and with --verbose', async () => {
    // Given a server whose exception quotes a URL with a user, a password and tokens
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--source-table', 'leaky.query_log', '--verbose'], workspace());
    // Then the error is the server's (exit 5), still naming the host, with every credential masked
    expect(result.exitCode, result.stderr).toBe(5);
    expect(result.stderr).toContain('https://***@backup.example/x?X-Amz-Credential=***&token=***');
    for (const secret of ['Hunter2Secret', 'AKIA7', 'Tok3nSecret', 'backup:']) expect(result.stderr + result.stdout).not.toContain(secret);
  });

  it('refuses an access token in the URL (the driver would send it), without echoing it', async () => {
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--url', 'https://127.0.0.1:1/?access_token=Tok3nSecret', '--json'], workspace());
    expect(result.exitCode, result.stderr).toBe(2);
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'url_credentials' });
    expect(result.stderr + result.stdout).not.toContain('Tok3nSecret');
  });
});

describe('byoc audit query-log --format ocsf', () => {
  it('exports the queries as Datastore Activity and the failed logins as Authentication events, one a line', async () => {
    // Given a server whose session_log holds a failed login of alice's user
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--format', 'ocsf'], workspace());
    expect(result.exitCode, result.stderr).toBe(0);
    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { class_uid: number; activity_id: number; status_id: number; user?: { name: string } });
    // Then the queries come first, then the login, with OCSF's class, activity and a failure status
    expect(events.filter((event) => event.class_uid === 6005).length).toBeGreaterThan(0);
    const logins = events.filter((event) => event.class_uid === 3002);
    expect(logins).toEqual([expect.objectContaining({ activity_id: 1, status_id: 2, user: expect.objectContaining({ name: ALICE }) })]);
    expect(events.at(-1)!.class_uid).toBe(3002);
  });
});

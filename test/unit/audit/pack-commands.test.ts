import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeClickHouse, type FakeClickHouse, type RecordedQuery } from '../../fakes/clickhouse-server.js';
import { runCli } from '../../fakes/context.js';
import { testBrokerCa, testServerKeys } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';

/** An 18.16-shaped query_log: numeric type, no log_comment, tables or exception_code (the sandbox's server). */
const OLD_COLUMNS = [
  ['type', 'UInt8'], ['event_date', 'Date'], ['event_time', 'DateTime'], ['query_duration_ms', 'UInt64'], ['read_rows', 'UInt64'], ['read_bytes', 'UInt64'],
  ['query', 'String'], ['exception', 'String'], ['user', 'String'], ['query_id', 'String'],
];
const T0 = Date.parse('2026-11-21T09:00:00Z') / 1000;
const ALICE = 'byoc_r_aaaaaaaaaa_alice_40vendor_2eexample';
const row = (offset: number, queryId: string, type: number, error: string, query: string) => [String(T0 + offset), ALICE, 'r-aaaaaaaaaa', queryId, String(type), '10', '1000', '3', error, '[]', query];
const LIST = [
  row(60, 'byoc-r-aaaaaaaaaa-0', 2, '', 'SELECT * FROM system.merges'),
  row(120, 'byoc-r-aaaaaaaaaa-1', 3, 'Code: 164. DB::Exception: byoc_r_aaaaaaaaaa_alice_40vendor_2eexample: Cannot execute query in readonly mode', 'INSERT INTO default.t VALUES (1)'),
];

function answer(query: RecordedQuery) {
  const rows = (data: string[][]) => ({ names: [], types: [], rows: data });
  if (query.sql.includes('FROM system.columns')) return rows(OLD_COLUMNS);
  if (query.sql.includes('GROUP BY user, tag_key')) return rows([[ALICE, 'r-aaaaaaaaaa', String(T0 + 60), String(T0 + 120), '2', '1', '1', '20', '2000']]);
  if (query.sql.includes('BY finding')) return rows(query.sql.includes('type = 3') || query.sql.includes('IN (') ? [['1', ...LIST[1]!]] : []);
  return rows(LIST);
}

let server: FakeClickHouse;
let caPem: string;
beforeAll(async () => {
  const ca = await testBrokerCa();
  caPem = ca.certPem;
  const { certPem, keyPem } = await testServerKeys(['clickhouse.customer.example']);
  server = await startFakeClickHouse({ certPem, keyPem, answer });
});
afterAll(() => server.close());

function workspace() {
  const cwd = tempDir({ 'ca.pem': caPem });
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), `network:\n  resolve: { clickhouse.customer.example: 127.0.0.1 }\naudit:\n  url: "https://clickhouse.customer.example:${server.port}"\n  user: auditor\n  caFile: ./ca.pem\n`);
  return { cwd, env: { AUDIT_SECRET: 's3cret', BYOC_STATE_DIR: path.join(cwd, 'state') } };
}
const REPORT = ['audit', 'report', '--password-env', 'AUDIT_SECRET', '--since', '2026-11-21T08:00:00Z', '--until', '2026-11-21T10:00:00Z', '--out', 'pack'];

describe('byoc audit keygen, report and verify', () => {
  it('keygen writes a 0600 Ed25519 key in the state folder, prints the public key, and never overwrites it', async () => {
    // Given a customer without a key
    const setup = workspace();
    // When they create one
    const first = await runCli(['audit', 'keygen'], setup);
    // Then the public key is on stdout (to publish) and the private key is 0600 in the state folder
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/);
    const file = path.join(setup.cwd, 'state', 'audit', 'signing-key.pem');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain('BEGIN PRIVATE KEY');
    expect(first.stderr).toContain('keep it on this machine');
    // And a second keygen refuses (exit 2), keeping the first key
    const before = readFileSync(file, 'utf8');
    const second = await runCli(['audit', 'keygen', '--json'], setup);
    expect(second.exitCode).toBe(2);
    expect(JSON.parse(second.stderr).error.code).toBe('key_exists');
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('report writes a signed pack that verify accepts with the published key, and rejects after a change (exit 4 naming the file)', async () => {
    // Given a signing key and its published public key
    const setup = workspace();
    const keygen = await runCli(['audit', 'keygen'], setup);
    writeFileSync(path.join(setup.cwd, 'pub.pem'), keygen.stdout);
    // When the customer writes a pack of the window
    const report = await runCli([...REPORT, '--json'], setup);
    expect(report.exitCode, report.stderr).toBe(0);
    const result = JSON.parse(report.stdout);
    // Then the folder holds the listed files, the manifest and its signature, and nothing else
    const dir = path.join(setup.cwd, 'pack');
    expect(readdirSync(dir).sort()).toEqual(['events.ndjson', 'findings.ndjson', 'manifest.json', 'manifest.sig', 'public-key.pem', 'report.html', 'summary.json']);
    expect(result.manifest).toMatchObject({ byocVersion: '0.0.0-test', server: `https://clickhouse.customer.example:${server.port}`, window: { since: '2026-11-21T08:00:00.000Z', until: '2026-11-21T10:00:00.000Z' } });
    // And the events are every engineer query row, with the server's fields; the findings and the summary per request and engineer
    const events = readFileSync(path.join(dir, 'events.ndjson'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ user: ALICE, engineer: 'alice@vendor.example', requestId: 'r-aaaaaaaaaa', type: 'exception-before-start', readRows: 10, query: 'INSERT INTO default.t VALUES (1)' });
    const findings = readFileSync(path.join(dir, 'findings.ndjson'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(findings.map((finding) => finding.kind)).toContain('denied');
    const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    // (18.16 has no `tables` column: the tables touched come from the query text)
    expect(summary.requests[0]).toMatchObject({ requestId: 'r-aaaaaaaaaa', engineers: ['alice@vendor.example'], queries: 2, failures: 1, refusals: 1, readRows: 20, readBytes: 2000, tablesTouched: ['default.t', 'system.merges'] });
    expect(summary.engineers[0]).toMatchObject({ engineer: 'alice@vendor.example', queries: 2, tablesTouched: ['default.t', 'system.merges'] });
    expect(readFileSync(path.join(dir, 'report.html'), 'utf8')).toMatch(/^<!doctype html>/i);
    // And verify with the published key says intact (exit 0)
    const verify = await runCli(['audit', 'verify', 'pack', '--public-key', 'pub.pem'], setup);
    expect(verify.exitCode, verify.stderr).toBe(0);
    expect(verify.stdout).toContain('intact, 5 files');
    // When one byte of summary.json changes
    const file = path.join(dir, 'summary.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"queries": 2', '"queries": 1'));
    // Then verify exits 4, naming the file, as text and as JSON
    const tampered = await runCli(['audit', 'verify', 'pack', '--public-key', 'pub.pem'], setup);
    expect(tampered.exitCode).toBe(4);
    expect(tampered.stderr).toContain('summary.json changed');
    const json = await runCli(['audit', 'verify', 'pack', '--public-key', 'pub.pem', '--json'], setup);
    expect(json.exitCode).toBe(4);
    expect(JSON.parse(json.stdout).problems).toEqual([expect.objectContaining({ file: 'summary.json', problem: 'changed' })]);
  });

  it('verify without --public-key warns that the pack only proves integrity; keygen and report have --json and text twins', async () => {
    // Given a key made with --json: the public key, its SHA-256 and the file
    const setup = workspace();
    const keygen = await runCli(['audit', 'keygen', '--out', 'keys/signing.pem', '--json'], setup);
    expect(keygen.exitCode, keygen.stderr).toBe(0);
    const key = JSON.parse(keygen.stdout);
    expect(key).toMatchObject({ file: path.join(setup.cwd, 'keys', 'signing.pem'), publicKeyPem: expect.stringContaining('BEGIN PUBLIC KEY'), publicKeySha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // When the pack is written as text: one line a file, sha256sum's format
    const report = await runCli([...REPORT, '--signing-key', 'keys/signing.pem'], setup);
    expect(report.exitCode, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/pack: 2 queries, 4 findings, 5 files signed\n[0-9a-f]{64} {2}events\.ndjson\n/);
    expect(report.stderr).toContain(key.publicKeySha256);
    // Then the manifest names that key
    expect(JSON.parse(readFileSync(path.join(setup.cwd, 'pack', 'manifest.json'), 'utf8')).publicKeySha256).toBe(key.publicKeySha256);
    const verify = await runCli(['audit', 'verify', 'pack'], setup);
    expect(verify.exitCode).toBe(0);
    expect(verify.stderr).toContain('anyone can sign a pack with a key of their own');
  });

  it('report refuses without a signing key (exit 3, naming keygen) and into a folder that is not empty (exit 2)', async () => {
    // Given no key
    const setup = workspace();
    const noKey = await runCli(REPORT, setup);
    expect(noKey.exitCode).toBe(3);
    expect(noKey.stderr).toContain('byoc audit keygen');
    // Given a key others can read: the pack is written, with a warning naming the fix
    await runCli(['audit', 'keygen'], setup);
    const keyFile = path.join(setup.cwd, 'state', 'audit', 'signing-key.pem');
    chmodSync(keyFile, 0o644);
    const loose = await runCli([...REPORT.slice(0, -1), 'loose'], setup);
    expect(loose.exitCode, loose.stderr).toBe(0);
    expect(loose.stderr).toContain(`is readable by others (mode 0644): anyone who can read it can sign packs in your name. chmod 600 ${keyFile}`);
    chmodSync(keyFile, 0o600);
    expect((await runCli([...REPORT.slice(0, -1), 'tight'], setup)).stderr).not.toContain('readable by others');
    // Given a folder already holding something
    writeFileSync(path.join(setup.cwd, 'stray'), 'x');
    const busy = await runCli([...REPORT.slice(0, -1), '.'], setup);
    expect(busy.exitCode).toBe(2);
    expect(busy.stderr).toMatch(/is not empty[\s\S]*choose a new folder/);
    // Given no --out
    const noOut = await runCli(REPORT.slice(0, -2), setup);
    expect(noOut.exitCode).toBe(2);
    expect(noOut.stderr).toContain('--out DIR');
  });
});

describe('byoc audit query-log --format ocsf', () => {
  it('streams one OCSF Datastore Activity event per engineer query, naming the server audited', async () => {
    // Given the customer's audit connection; When they export the queries for their SIEM
    const result = await runCli(['audit', 'query-log', '--password-env', 'AUDIT_SECRET', '--since', '2026-11-21T08:00:00Z', '--until', '2026-11-21T10:00:00Z', '--format', 'ocsf'], workspace());
    expect(result.exitCode, result.stderr).toBe(0);
    // Then each query is an event of class 6005 (the refused one a Failure), and the failed logins of session_log
    // follow as Authentication (3002) Logon failures
    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    const kinds = events.map((event) => [event.class_uid, event.type_uid, event.status_id]);
    expect(kinds.slice(0, 2)).toEqual([[6005, 600504, 1], [6005, 600504, 2]]);
    expect(kinds.slice(2).every(([classUid, typeUid, status]) => classUid === 3002 && typeUid === 300201 && status === 2)).toBe(true);
    expect(events[0]).toMatchObject({ dst_endpoint: { hostname: 'clickhouse.customer.example', port: server.port }, actor: { user: { name: 'alice@vendor.example' } }, metadata: { product: { name: 'byoc', version: '0.0.0-test' } } });
  });
});

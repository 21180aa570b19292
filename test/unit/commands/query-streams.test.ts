/**
 * `byoc query` streams against a fake current ClickHouse: a FORMAT clause sent as written, cancellation on the
 * server (Ctrl-C, --timeout, a consumer that stops early), and a closed stdout, through the built binary (the
 * real process boundary is where EPIPE arrives).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../src/access/open.js';
import { openTestBroker, testBrokerCa, testServerKeys } from '../../fakes/broker.js';
import { startFakeClickHouse, type FakeClickHouse, type RecordedQuery } from '../../fakes/clickhouse-server.js';
import { FakeClock, runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { spawnByoc } from '../../fakes/spawn-byoc.js';

const HOST = 'ch.acme.example';
const LONG = 'SELECT number FROM system.numbers';
const numbers = { names: ['number'], types: ['UInt64'], rows: Array.from({ length: 200 }, (_, index) => [String(index)]) };

let server: FakeClickHouse;
let caPem: string;
let serverKeys: { certPem: string; keyPem: string };

beforeAll(async () => {
  const ca = await testBrokerCa();
  caPem = ca.certPem;
  serverKeys = await testServerKeys([HOST]);
  server = await startFakeClickHouse({ ...serverKeys, clientCa: caPem, answer, endless: (query) => query.sql.startsWith(LONG) });
});
afterAll(async () => {
  await server.close();
});

function answer(query: RecordedQuery) {
  if (query.sql.startsWith(LONG)) return numbers;
  return { names: ['x'], types: ['UInt8'], rows: [['1']] };
}

/** An engineer with an approved request for acme-prod on the fake server (in process). */
async function engineer() {
  const stateDir = tempDir();
  const clock = new FakeClock(new Date());
  const { broker } = await openTestBroker(stateDir, clock);
  const request = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'merges stuck', ticket: 'INC-7', duration: '2h' });
  await broker.approve('bob@vendor.example', request.id);
  const cwd = tempDir({ 'ca.pem': caPem });
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), `network:\n  resolve: { ${HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${HOST}:${server.port}", caFile: ./ca.pem }\n`);
  return { cwd, clock, env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) } };
}

const sentSince = (before: number) => server.queries.slice(before);
const killsOf = (queries: RecordedQuery[], queryId: string) => queries.filter((query) => query.sql.startsWith('KILL QUERY') && query.sql.includes(`'${queryId}'`));

describe('byoc query: a FORMAT clause in the SQL', () => {
  it('is sent as written (byoc appends none) and the server bytes are printed unchanged', async () => {
    // Given an engineer and a query that names its own format
    const setup = await engineer();
    const before = server.queries.length;
    // When it runs, piped, and with the --format that means the same
    const plain = await runCli(['query', 'acme-prod', 'SELECT 1 AS x FROM system.one FORMAT JSONEachRow;'], setup);
    const same = await runCli(['query', 'acme-prod', 'SELECT 1 AS x FROM system.one FORMAT JSONEachRow', '--format', 'ndjson'], setup);
    // Then the server saw exactly one FORMAT, the user's, and stdout is its answer as it sent it
    expect(plain).toMatchObject({ exitCode: 0, stdout: '{"x":"1"}\n', stderr: '' });
    expect(same).toMatchObject({ exitCode: 0, stdout: '{"x":"1"}\n' });
    const sent = sentSince(before).filter((query) => !query.sql.startsWith('KILL'));
    expect(sent.map((query) => [query.sql, query.format])).toEqual([
      ['SELECT 1 AS x FROM system.one', 'JSONEachRow'],
      ['SELECT 1 AS x FROM system.one', 'JSONEachRow'],
    ]);
  });

  it("clickhouse-client's \\G terminator becomes FORMAT Vertical (the server knows no \\G over HTTP)", async () => {
    // Given an engineer / When a query ends with \G
    const setup = await engineer();
    const before = server.queries.length;
    const result = await runCli(['query', 'acme-prod', 'SELECT 1 AS x FROM system.one\\G'], setup);
    // Then the server was asked for FORMAT Vertical, and nothing else
    expect(result.exitCode, result.stderr).toBe(0);
    const sent = sentSince(before).filter((query) => !query.sql.startsWith('KILL'));
    expect(sent.map((query) => [query.sql, query.format])).toEqual([['SELECT 1 AS x FROM system.one', 'Vertical']]);
  });

  it('with a different --format or --json is a usage error naming both, and nothing is sent', async () => {
    const setup = await engineer();
    const before = server.queries.length;
    // When the SQL says JSONEachRow but the flags ask for CSV or byoc's JSON document
    const csv = await runCli(['query', 'acme-prod', 'SELECT 1 AS x FROM system.one FORMAT JSONEachRow', '--format', 'csv'], setup);
    const json = await runCli(['query', 'acme-prod', 'SELECT 1 AS x FROM system.one FORMAT JSONEachRow', '--json'], setup);
    // Then exit 2, naming the clause and the flag
    expect(csv.exitCode).toBe(2);
    expect(csv.stderr).toContain('FORMAT JSONEachRow');
    expect(csv.stderr).toContain('--format csv');
    expect(json.exitCode).toBe(2);
    expect(json.stderr).toContain('--json');
    expect(sentSince(before)).toEqual([]);
  });
});

describe('byoc query: cancellation on the server', () => {
  it('Ctrl-C during a stream kills the query on the server before byoc exits', async () => {
    // Given a query that never ends on the server
    const setup = await engineer();
    const controller = new AbortController();
    const before = server.queries.length;
    setTimeout(() => controller.abort(new DOMException('interrupted', 'AbortError')), 300);
    // When the engineer presses Ctrl-C while rows stream
    const result = await runCli(['query', 'acme-prod', LONG, '--format', 'tsv', '--max-rows', '0'], { ...setup, signal: controller.signal });
    // Then byoc exits as interrupted, and by then the server no longer runs it: KILL QUERY named its query_id
    expect(result.exitCode).toBe(130);
    expect(result.stdout).toMatch(/^number\n0\n1\n/);
    const [query] = sentSince(before);
    expect(killsOf(sentSince(before), query!.queryId!)).toHaveLength(1);
    expect(server.processes.has(query!.queryId!)).toBe(false);
  });

  it('--timeout stops the query on the server and says so (exit 5)', async () => {
    const setup = await engineer();
    const before = server.queries.length;
    const result = await runCli(['query', 'acme-prod', LONG, '--timeout', '1s', '--max-rows', '0'], setup);
    expect(result.exitCode).toBe(5);
    expect(result.stderr).toContain('the query ran longer than its time limit (1s); byoc cancelled it on the server');
    const [query] = sentSince(before);
    expect(killsOf(sentSince(before), query!.queryId!)).toHaveLength(1);
    expect(server.processes.has(query!.queryId!)).toBe(false);
  });

  it('a result cut by --max-rows does not leave the query running', async () => {
    const setup = await engineer();
    const before = server.queries.length;
    const result = await runCli(['query', 'acme-prod', LONG, '--max-rows', '5', '--json'], setup);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout).rowCount).toBe(5);
    const [query] = sentSince(before);
    expect(server.processes.has(query!.queryId!)).toBe(false);
  });

  it('a query that ended on its own is not killed', async () => {
    const setup = await engineer();
    const before = server.queries.length;
    expect((await runCli(['query', 'acme-prod', 'SELECT 1 AS x FROM system.one', '--json'], setup)).exitCode).toBe(0);
    expect(sentSince(before).filter((query) => query.sql.startsWith('KILL'))).toEqual([]);
  });
});

describe('byoc query with stdout closed early (EPIPE), the built binary', () => {
  it('ends quietly with exit 0 in every streaming format and kills the query on the server', async () => {
    // Given an approved engineer (all through the binary, on its own state folder) and a server that trusts its CA
    const cwd = tempDir({ 'server-ca.pem': caPem });
    const env = { BYOC_STATE_DIR: path.join(cwd, 'state') };
    const run = async (user: string, args: string[]) => {
      const spawned = spawnByoc(args, { cwd, env: { ...env, BYOC_USER: user }, closeStdoutAfterFirstChunk: true });
      return { ...(await spawned.exited), first: await spawned.firstChunk };
    };
    writeFileSync(path.join(cwd, 'byoc.config.yaml'), `policy:\n  approvers: [bob@vendor.example]\nnetwork:\n  resolve: { ${HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${HOST}:1", caFile: ./server-ca.pem }\n`);
    const cli = (user: string, args: string[]) => spawnByoc(args, { cwd, env: { ...env, BYOC_USER: user } }).exited;
    const requested = await cli('alice@vendor.example', ['access', 'request', 'acme-prod', '--reason', 'x', '--no-wait', '--json']);
    const { id } = JSON.parse(String(requested.stdout)) as { id: string };
    expect((await cli('bob@vendor.example', ['access', 'approve', id])).exitCode).toBe(0);
    const got = JSON.parse(String((await cli('alice@vendor.example', ['cert', 'get', 'acme-prod', '--json'])).stdout)) as { caPath: string };
    const own = await startFakeClickHouse({ ...serverKeys, clientCa: readFileSync(got.caPath, 'utf8'), answer, endless: (query) => query.sql.startsWith(LONG) });
    try {
      const config = readFileSync(path.join(cwd, 'byoc.config.yaml'), 'utf8');
      writeFileSync(path.join(cwd, 'byoc.config.yaml'), config.replace(`:1"`, `:${own.port}"`));
      for (const format of [[], ['--format', 'ndjson'], ['--format', 'csv'], ['--json']]) {
        const before = own.queries.length;
        // When the reader closes stdout after the first chunk of an endless result
        const result = await run('alice@vendor.example', ['query', 'acme-prod', LONG, '--max-rows', '0', ...format]);
        // Then exit 0, nothing on stderr, and the server no longer runs the query
        expect(result, format.join(' ')).toMatchObject({ exitCode: 0, stderr: '' });
        expect(result.first.length).toBeGreaterThan(0);
        const [query] = own.queries.slice(before);
        expect(killsOf(own.queries.slice(before), query!.queryId!), format.join(' ')).toHaveLength(1);
        expect(own.processes.has(query!.queryId!)).toBe(false);
      }
    } finally {
      await own.close();
    }
  }, 60_000);
});

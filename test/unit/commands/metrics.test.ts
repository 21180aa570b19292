import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../src/access/open.js';
import type { Scope } from '../../../src/access/types.js';
import { FakeClock, runCli } from '../../fakes/context.js';
import { openTestBroker, testBrokerCa, testServerKeys } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';
import { startFakePrometheus, success, type FakeAnswer, type FakePrometheus, type RecordedCall } from '../../fakes/prometheus-server.js';

const HOST = 'prom.acme.example';
let answer: (call: RecordedCall) => FakeAnswer = () => success([]);
let prometheus: FakePrometheus;

beforeAll(async () => {
  const ca = await testBrokerCa();
  const { certPem, keyPem } = await testServerKeys([HOST]);
  prometheus = await startFakePrometheus({ certPem, keyPem, clientCa: ca.certPem, answer: (call) => answer(call) });
});
afterAll(() => prometheus.close());

/** An engineer with an approved 2h grant for acme-prod (scopes as given), whose Prometheus is the fake (resolve override). */
async function engineer(options: { scopes?: Scope[]; prometheus?: boolean; caFile?: boolean } = {}) {
  const stateDir = tempDir();
  const clock = new FakeClock(new Date());
  const { broker } = await openTestBroker(stateDir, clock);
  const request = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'merges stuck', duration: '2h', ...(options.scopes ? { scopes: options.scopes } : {}) });
  await broker.approve('bob@vendor.example', request.id);
  const cwd = tempDir({ 'ca.pem': (await testBrokerCa()).certPem });
  const block = options.prometheus === false ? `clickhouse: { url: "https://${HOST}:1" }` : `prometheus: { url: "https://${HOST}:${prometheus.port}"${options.caFile === false ? '' : ', caFile: ./ca.pem'} }`;
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), `network:\n  resolve: { ${HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    ${block}\n`);
  const setup = { cwd, clock, env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) } };
  return { setup, requestId: request.id, nowSeconds: clock.now().getTime() / 1000 };
}

const vector = (t: number) => success({ resultType: 'vector', result: [{ metric: { __name__: 'ClickHouseMetrics_Merge', instance: 'ch-0:9363' }, value: [t, '3'] }, { metric: { __name__: 'ClickHouseMetrics_Merge', instance: 'ch-1:9363' }, value: [t, '0'] }] });
const matrix = (start: number) =>
  success({
    resultType: 'matrix',
    result: [{ metric: { instance: 'ch-0:9363' }, values: Array.from({ length: 10 }, (_, index) => [start + index * 30, String(index * 10)]) }],
  });

describe('byoc metrics query', () => {
  it('sends the PromQL to /api/v1/query with the certificate and the request header; piped it prints TSV', async () => {
    // Given an engineer whose grant covers metrics
    const { setup, requestId, nowSeconds } = await engineer();
    answer = () => vector(nowSeconds);
    const before = prometheus.calls.length;
    // When an instant query runs, piped
    const result = await runCli(['metrics', 'query', 'acme-prod', 'ClickHouseMetrics_Merge'], setup);
    // Then the rows print as TSV with a header, and Prometheus saw the engineer's certificate and the request
    expect(result).toMatchObject({ exitCode: 0, stderr: '' });
    const time = new Date(Math.round(nowSeconds * 1000)).toISOString();
    expect(result.stdout).toBe(`series\tvalue\ttime\nClickHouseMetrics_Merge{instance="ch-0:9363"}\t3\t${time}\nClickHouseMetrics_Merge{instance="ch-1:9363"}\t0\t${time}\n`);
    const [call] = prometheus.calls.slice(before);
    expect(call).toMatchObject({ method: 'GET', path: '/api/v1/query', request: requestId, commonName: 'alice@vendor.example', userAgent: `byoc/0.0.0-test (request ${requestId})` });
    expect(Object.fromEntries(call!.params)).toMatchObject({ query: 'ClickHouseMetrics_Merge', timeout: '60s' });
  });

  it('prints the answer as one JSON document with --json, and a table on a TTY', async () => {
    const { setup, requestId, nowSeconds } = await engineer();
    answer = () => vector(nowSeconds);
    const json = await runCli(['metrics', 'query', 'acme-prod', 'ClickHouseMetrics_Merge', '--json'], setup);
    expect(json.exitCode).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ service: 'acme-prod', requestId, query: 'ClickHouseMetrics_Merge', resultType: 'vector', result: [{ value: [nowSeconds, '3'] }, {}] });
    const tty = await runCli(['metrics', 'query', 'acme-prod', 'ClickHouseMetrics_Merge'], { ...setup, stdoutTTY: true });
    const text = stripVTControlCharacters(tty.stdout);
    expect(text).toMatch(/SERIES\s+VALUE\s+TIME/);
    expect(text).toMatch(/ClickHouseMetrics_Merge\{instance="ch-0:9363"\}\s+3\s/);
  });

  it('writes CSV and NDJSON with --format', async () => {
    const { setup, nowSeconds } = await engineer();
    answer = () => vector(nowSeconds);
    const csv = await runCli(['metrics', 'query', 'acme-prod', 'x', '--format', 'csv'], setup);
    expect(csv.stdout.split('\n')[1]).toMatch(/^"ClickHouseMetrics_Merge\{instance=""ch-0:9363""\}",3,/);
    const ndjson = await runCli(['metrics', 'query', 'acme-prod', 'x', '--format', 'ndjson'], setup);
    expect(ndjson.stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual([
      expect.objectContaining({ series: 'ClickHouseMetrics_Merge{instance="ch-0:9363"}', value: '3' }),
      expect.objectContaining({ value: '0' }),
    ]);
  });

  it("refuses a grant without the metrics scope (exit 4) before any call, naming the request to make", async () => {
    const { setup } = await engineer({ scopes: ['clickhouse'] });
    const before = prometheus.calls.length;
    const result = await runCli(['metrics', 'query', 'acme-prod', 'up'], setup);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain('does not cover metrics');
    expect(result.stderr).toContain('--scope clickhouse,metrics');
    expect(prometheus.calls.length).toBe(before);
  });

  it('says which setting to add when the service has no Prometheus (exit 2)', async () => {
    const { setup } = await engineer({ prometheus: false });
    const result = await runCli(['metrics', 'query', 'acme-prod', 'up'], setup);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('services.acme-prod.prometheus.url');
  });

  it("tells the proxy's 403 (exit 4) from Prometheus's own error (exit 5)", async () => {
    const { setup, requestId } = await engineer();
    answer = () => ({ status: 403, body: '<html><head><title>403 Forbidden</title></head><body><hr><center>nginx</center></body></html>' });
    const refused = await runCli(['metrics', 'query', 'acme-prod', 'up'], setup);
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toContain(`byoc access operator-config ${requestId}`);
    answer = () => ({ status: 422, body: { status: 'error', errorType: 'execution', error: 'query processing would load too many samples into memory' } });
    const failed = await runCli(['metrics', 'query', 'acme-prod', 'up'], setup);
    expect(failed.exitCode).toBe(5);
    expect(failed.stderr).toContain('too many samples');
  });

  it('says an untrusted server certificate is the path (exit 6), naming the caFile setting', async () => {
    // Given a Prometheus whose certificate's CA is not configured
    const { setup } = await engineer({ caFile: false });
    const result = await runCli(['metrics', 'query', 'acme-prod', 'up'], setup);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain('services.acme-prod.prometheus.caFile');
  });

  it('refuses more series than --max-series (exit 2, naming the flag)', async () => {
    const { setup, nowSeconds } = await engineer();
    answer = () => vector(nowSeconds);
    const result = await runCli(['metrics', 'query', 'acme-prod', 'x', '--max-series', '1'], setup);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('more than --max-series 1');
    expect(result.stdout).toBe('');
  });
});

describe('byoc metrics range', () => {
  it('reads the last 6h at 30s by default; a sparkline per series on a TTY with min, max and last', async () => {
    const { setup, nowSeconds } = await engineer();
    answer = () => matrix(nowSeconds - 270);
    const before = prometheus.calls.length;
    const result = await runCli(['metrics', 'range', 'acme-prod', 'ClickHouseMetrics_MemoryTracking', '--since', '2h'], { ...setup, stdoutTTY: true });
    expect(result.exitCode).toBe(0);
    const params = Object.fromEntries(prometheus.calls.slice(before)[0]!.params);
    expect(prometheus.calls[before]!.path).toBe('/api/v1/query_range');
    expect(Number(params.end) - Number(params.start)).toBe(7200);
    expect(params.step).toBe('10');
    const text = stripVTControlCharacters(result.stdout);
    expect(text).toMatch(/SERIES\s+SPARKLINE\s+MIN\s+MAX\s+LAST/);
    expect(text).toContain('{instance="ch-0:9363"}');
    expect(text).toContain('▁▂▃▃▄▅▆▆▇█');
    expect(text).toMatch(/▁▂▃▃▄▅▆▆▇█\s+0\s+90\s+90/);
  });

  it('prints one row per point piped, and the answer with --json', async () => {
    const { setup, requestId, nowSeconds } = await engineer();
    answer = () => matrix(nowSeconds - 270);
    const piped = await runCli(['metrics', 'range', 'acme-prod', 'x', '--since', '1h', '--format', 'csv'], setup);
    expect(piped.stdout.split('\n')).toHaveLength(12);
    expect(piped.stdout.split('\n')[0]).toBe('series,time,value');
    const json = await runCli(['metrics', 'range', 'acme-prod', 'x', '--since', '1h', '--step', '1m', '--json'], setup);
    expect(JSON.parse(json.stdout)).toMatchObject({ requestId, stepSeconds: 60, resultType: 'matrix', result: [{ values: expect.any(Array) }] });
  });

  it("refuses --since beyond the grant's window and a --step below the minimum (exit 2), before any call", async () => {
    const { setup } = await engineer();
    const before = prometheus.calls.length;
    const long = await runCli(['metrics', 'range', 'acme-prod', 'x', '--since', '3h'], setup);
    expect(long.exitCode).toBe(2);
    expect(long.stderr).toContain("--since 3h reaches back further than your grant's window (2h");
    const fine = await runCli(['metrics', 'range', 'acme-prod', 'x', '--since', '2h', '--step', '100ms'], setup);
    expect(fine.exitCode).toBe(2);
    expect(fine.stderr).toContain('--step 1s or more');
    expect(prometheus.calls.length).toBe(before);
  });

  it('runs a preset by name, and refuses an unknown one with the list', async () => {
    const { setup, nowSeconds } = await engineer();
    answer = () => matrix(nowSeconds);
    const before = prometheus.calls.length;
    expect((await runCli(['metrics', 'range', 'acme-prod', '--preset', 'merges', '--since', '1h'], setup)).exitCode).toBe(0);
    expect(Object.fromEntries(prometheus.calls[before]!.params).query).toBe('sum by (instance) (ClickHouseMetrics_Merge)');
    const unknown = await runCli(['metrics', 'range', 'acme-prod', '--preset', 'nope'], setup);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('keeper-sessions');
  });
});

describe('byoc metrics series and labels', () => {
  it('lists the series matching selectors within the grant window; NDJSON gives label sets', async () => {
    const { setup, nowSeconds } = await engineer();
    answer = () => success([{ __name__: 'up', job: 'prometheus', instance: 'localhost:9090' }]);
    const before = prometheus.calls.length;
    const piped = await runCli(['metrics', 'series', 'acme-prod', 'up', '{job="node"}'], setup);
    expect(piped.stdout).toBe('series\nup{instance="localhost:9090",job="prometheus"}\n');
    const call = prometheus.calls[before]!;
    expect(call.path).toBe('/api/v1/series');
    expect(call.params.filter(([name]) => name === 'match[]').map(([, value]) => value)).toEqual(['up', '{job="node"}']);
    expect(Math.round(nowSeconds - Number(Object.fromEntries(call.params).start))).toBe(7200);
    const ndjson = await runCli(['metrics', 'series', 'acme-prod', 'up', '--format', 'ndjson'], setup);
    expect(JSON.parse(ndjson.stdout)).toEqual({ __name__: 'up', job: 'prometheus', instance: 'localhost:9090' });
    const json = await runCli(['metrics', 'series', 'acme-prod', 'up', '--json'], setup);
    expect(JSON.parse(json.stdout)).toMatchObject({ matchers: ['up'], series: [{ job: 'prometheus' }] });
    const tty = await runCli(['metrics', 'series', 'acme-prod', 'up'], { ...setup, stdoutTTY: true });
    expect(stripVTControlCharacters(tty.stdout)).toMatch(/SERIES\s*\n\s*up\{instance="localhost:9090",job="prometheus"\}/);
  });

  it('lists label names, a label’s values, and refuses a name that could change the path (exit 2) without calling', async () => {
    const { setup } = await engineer();
    answer = (call) => success(call.path === '/api/v1/labels' ? ['__name__', 'instance', 'job'] : ['node', 'prometheus']);
    expect((await runCli(['metrics', 'labels', 'acme-prod'], setup)).stdout).toBe('__name__\ninstance\njob\n');
    const before = prometheus.calls.length;
    const values = await runCli(['metrics', 'labels', 'acme-prod', 'job', '--json'], setup);
    expect(JSON.parse(values.stdout)).toMatchObject({ label: 'job', values: ['node', 'prometheus'] });
    expect(prometheus.calls[before]!.path).toBe('/api/v1/label/job/values');
    const tty = await runCli(['metrics', 'labels', 'acme-prod', 'job'], { ...setup, stdoutTTY: true });
    expect(stripVTControlCharacters(tty.stdout)).toMatch(/VALUE\s*\n\s*node/);
    for (const name of ['../../-/quit', '..%2Fadmin', 'job/values']) {
      const refused = await runCli(['metrics', 'labels', 'acme-prod', name], setup);
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr).toContain('is not a Prometheus label name');
    }
    expect(prometheus.calls.length).toBe(before + 2);
  });
});

describe('byoc metrics presets', () => {
  it('lists each preset with a line saying what it shows, and its PromQL in --json', async () => {
    const piped = await runCli(['metrics', 'presets'], {});
    const names = piped.stdout.trim().split('\n').map((line) => line.split('\t')[0]);
    expect(names).toEqual(['memory', 'merges', 'parts', 'replication-delay', 'query-rate', 'errors', 'disk', 'keeper-sessions']);
    const json = JSON.parse((await runCli(['metrics', 'presets', '--json'], {})).stdout) as { presets: { promql: string; description: string }[] };
    for (const preset of json.presets) {
      expect(preset.promql).toMatch(/ClickHouse(Metrics|ProfileEvents|AsyncMetrics)_/);
      expect(preset.description.length).toBeGreaterThan(20);
    }
    const tty = stripVTControlCharacters((await runCli(['metrics', 'presets'], { stdoutTTY: true })).stdout);
    expect(tty).toMatch(/PRESET\s+WHAT IT SHOWS/);
    expect(tty).toContain('replication-delay');
  });
});

describe('byoc doctor, metrics step', () => {
  it("reads the build info over the grant's certificate when the service has a Prometheus", async () => {
    // Given a service with a Prometheus and a grant covering metrics
    const { setup, requestId } = await engineer();
    answer = (call) => (call.path === '/api/v1/status/buildinfo' ? success({ version: '2.42.0', revision: '0123456789abcdef' }) : success([]));
    // When the doctor runs for it (the certificate fetched first, as the doctor checks the stored one)
    expect((await runCli(['cert', 'get', 'acme-prod'], setup)).exitCode).toBe(0);
    const result = await runCli(['doctor', 'acme-prod', '--json'], setup);
    // Then its metrics step passed, naming the version, and the call carried the request
    const step = (JSON.parse(result.stdout) as { steps: { id: string; status: string; evidence: string }[] }).steps.find((entry) => entry.id === 'metrics');
    expect(step).toMatchObject({ status: 'PASS', evidence: expect.stringContaining('Prometheus API 2.42.0 (01234567)') });
    expect(prometheus.calls.at(-1)).toMatchObject({ path: '/api/v1/status/buildinfo', request: requestId });
  });

  it('fails the step as not allowed (exit 4) when the grant lacks the metrics scope', async () => {
    const { setup } = await engineer({ scopes: ['clickhouse'] });
    expect((await runCli(['cert', 'get', 'acme-prod'], setup)).exitCode).toBe(0);
    const result = await runCli(['doctor', 'acme-prod', '--json'], setup);
    const step = (JSON.parse(result.stdout) as { steps: { id: string; status: string; evidence: string; kind?: string }[] }).steps.find((entry) => entry.id === 'metrics');
    expect(step).toMatchObject({ status: 'FAIL', kind: 'not-allowed', evidence: expect.stringContaining('does not cover metrics') });
  });
});

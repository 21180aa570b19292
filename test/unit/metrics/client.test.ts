import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPrometheus } from '../../../src/metrics/client.js';
import { startFakePrometheus, success, type FakeAnswer, type FakePrometheus, type RecordedCall } from '../../fakes/prometheus-server.js';

let answer: (call: RecordedCall) => FakeAnswer = () => success([]);
let server: FakePrometheus;

beforeAll(async () => {
  server = await startFakePrometheus({ answer: (call) => answer(call) });
});
afterAll(() => server.close());

const client = (options: { maxBytes?: number; timeoutMs?: number } = {}) =>
  openPrometheus({ url: server.url, service: 'acme-prod', requestId: 'r-42', agent: new http.Agent(), userAgent: 'byoc/test (request r-42)', timeoutMs: options.timeoutMs ?? 5000, maxBytes: options.maxBytes });

describe('the Prometheus client', () => {
  it('sends a GET on the allowlisted path, the PromQL as an encoded parameter, tagged with the request', async () => {
    // Given a Prometheus that answers a vector
    answer = () => success({ resultType: 'vector', result: [{ metric: { __name__: 'up' }, value: [1, '1'] }] }, ['partial']);
    const before = server.calls.length;
    // When a query with path-like characters is sent
    const promql = 'up{job="/-/quit"} # ../../api/v1/write?x';
    const answered = await client().call({ endpoint: 'query', params: [['query', promql]] });
    // Then the server saw /api/v1/query only, the PromQL intact in the parameters, and the request id header
    const [call] = server.calls.slice(before);
    expect(call).toMatchObject({ method: 'GET', path: '/api/v1/query', params: [['query', promql]], request: 'r-42', userAgent: 'byoc/test (request r-42)' });
    expect(call!.target.startsWith('/api/v1/query?query=')).toBe(true);
    expect(answered).toEqual({ data: { resultType: 'vector', result: [{ metric: { __name__: 'up' }, value: [1, '1'] }] }, warnings: ['partial'] });
  });

  it("tells Prometheus's own error (exit 5, its type and a hint) from a proxy's 403 (exit 4)", async () => {
    // Given Prometheus refusing bad PromQL with its envelope
    answer = () => ({ status: 400, body: { status: 'error', errorType: 'bad_data', error: 'parse error at char 4: unexpected "}"' } });
    await expect(client().call({ endpoint: 'query', params: [['query', 'up}']] })).rejects.toMatchObject({
      code: 'prometheus_error',
      kind: 'remote',
      errorType: 'bad_data',
      message: expect.stringContaining('parse error at char 4'),
      hint: expect.stringContaining('PromQL'),
    });
    // Given nginx refusing the certificate's request (no metrics scope) with its own page
    answer = () => ({ status: 403, body: '<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center><hr><center>nginx/1.22.1</center></body></html>' });
    await expect(client().call({ endpoint: 'labels' })).rejects.toMatchObject({ code: 'endpoint_refused', kind: 'not-allowed', hint: expect.stringContaining('byoc access operator-config r-42') });
    // Given a gateway error from the proxy
    answer = () => ({ status: 502, body: '<html><head><title>502 Bad Gateway</title></head></html>' });
    await expect(client().call({ endpoint: 'labels' })).rejects.toMatchObject({ code: 'gateway_error', kind: 'remote' });
  });

  it('refuses an answer that is not the Prometheus API', async () => {
    answer = () => ({ status: 200, body: '<html>a dashboard</html>' });
    await expect(client().call({ endpoint: 'buildinfo' })).rejects.toMatchObject({ code: 'metrics_bad_answer', kind: 'remote', hint: expect.stringContaining('services.acme-prod.prometheus.url') });
  });

  it('reads a large result whole, and refuses one beyond its byte cap', async () => {
    // Given 20,000 series of 50 points (about 10 MB)
    const result = Array.from({ length: 20_000 }, (_, index) => ({ metric: { __name__: 'x', i: String(index) }, values: Array.from({ length: 50 }, (__, t) => [t, String(t)]) }));
    answer = () => success({ resultType: 'matrix', result });
    const answered = await client().call<{ result: unknown[] }>({ endpoint: 'query_range', params: [['query', 'x']] });
    expect(answered.data.result).toHaveLength(20_000);
    await expect(client({ maxBytes: 1024 * 1024 }).call({ endpoint: 'query_range', params: [['query', 'x']] })).rejects.toMatchObject({ code: 'metrics_too_large', kind: 'remote' });
  });

  it('says a refused connection is the path (exit 6), naming the setting', async () => {
    const closed = await startFakePrometheus({ answer: () => success([]) });
    await closed.close();
    const unreachable = openPrometheus({ url: closed.url, service: 'acme-prod', requestId: 'r-42', agent: new http.Agent(), userAgent: 'x', timeoutMs: 2000 });
    await expect(unreachable.call({ endpoint: 'buildinfo' })).rejects.toMatchObject({ code: 'metrics_unreachable', kind: 'network', hint: expect.stringContaining('services.acme-prod.prometheus.url') });
  });
});

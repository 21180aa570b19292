import { describe, expect, it } from 'vitest';
import { allowedPath, endpointUrl, ENDPOINTS, type Endpoint } from '../../../src/metrics/endpoints.js';

const BASE = 'https://prom.acme.example:9443';
const ALLOWED = new Set<string>(Object.values(ENDPOINTS).filter((path) => !path.includes('{')));

describe('the metrics endpoint allowlist', () => {
  it('builds only the fixed read paths, the user input in encoded query parameters', () => {
    // Given PromQL holding every character that could end or change a path
    const promql = 'up{job="/-/quit"} / on() ../api/v1/admin/tsdb/delete_series?match[]=x&time=0&step=1#frag %2F..%2F//write';
    // When each endpoint is built with it
    for (const endpoint of Object.keys(ENDPOINTS) as Endpoint[]) {
      const url = endpointUrl(BASE, { endpoint, params: [['query', promql], ['match[]', promql]], label: 'job' });
      // Then the path is the table's and the PromQL comes back intact from the parameters only
      expect(url.pathname).toBe(ENDPOINTS[endpoint].replace('{name}', 'job'));
      expect(url.hash).toBe('');
      expect(url.searchParams.get('query')).toBe(promql);
      expect(url.searchParams.getAll('match[]')).toEqual([promql]);
      expect(url.href).not.toMatch(/-\/quit(?!%)|\/admin\/|\/write/);
      // and no parameter of its own: time and step stay absent
      expect([...url.searchParams.keys()].sort()).toEqual(['match[]', 'query']);
    }
  });

  it('keeps the base URL path prefix (a Thanos behind /thanos) and drops its query and fragment', () => {
    const url = endpointUrl('https://h.example/thanos/?x=1#y', { endpoint: 'query', params: [['query', 'up']] });
    expect(url.href).toBe('https://h.example/thanos/api/v1/query?query=up');
  });

  it.each([
    '../admin/tsdb/delete_series',
    '..%2F..%2Fadmin',
    'job/../../-/quit',
    'job%2Fvalues',
    '',
    '1job',
    'job?x=1',
    'job#x',
    'job/',
  ])('refuses the label name %j for label values (exit 2), whatever its spelling', (label) => {
    // Given a label name that is not a Prometheus label name
    // When the label-values URL is built, Then byoc refuses it before any request
    expect(() => endpointUrl(BASE, { endpoint: 'label_values', label })).toThrow(expect.objectContaining({ code: 'label_name_invalid', kind: 'usage' }));
  });

  it('refuses an endpoint that is not in the table (admin, lifecycle, remote write)', () => {
    for (const endpoint of ['admin', '/-/quit', 'write', '__proto__', 'constructor', 'toString']) {
      expect(() => endpointUrl(BASE, { endpoint: endpoint as Endpoint })).toThrow(/not a metrics endpoint/);
    }
  });

  it.each([
    '/api/v1/admin/tsdb/delete_series',
    '/api/v1/admin/tsdb/snapshot',
    '/api/v1/admin/tsdb/clean_tombstones',
    '/-/quit',
    '/-/reload',
    '/api/v1/write',
    '/api/v1/otlp/v1/metrics',
    '/api/v1/query/../admin/tsdb/delete_series',
    '/api/v1/query/..',
    '/api/v1/./write',
    '/api/v1//write',
    '//api/v1/query',
    '/api/v1/query/',
    '/api/v1/query%2F..%2Fwrite',
    '/api/v1/query%2f..%2f..%2f-%2fquit',
    '/api%2Fv1%2Fquery',
    '/api/v1/label/..%2F..%2Fadmin/values',
    '/api/v1/label/../../-/reload/values',
    '/api/v1/label/job/values/../../../write',
    '/api/v1/query;/../write',
    '/api/v1/query?/../write',
    '/api\\v1\\query',
    '/API/V1/QUERY',
  ])('refuses the path %s however it is spelled', (path) => {
    expect(allowedPath(path)).toBe(false);
  });

  it('accepts exactly the read paths', () => {
    for (const path of ALLOWED) expect(allowedPath(path)).toBe(true);
    expect(allowedPath('/api/v1/label/__name__/values')).toBe(true);
  });
});

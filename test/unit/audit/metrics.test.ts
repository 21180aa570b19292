import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { engineerOf, parseMetricsLine, refusedByProxy, summarize, type MetricsLogEntry } from '../../../src/audit/metrics-log.js';
import { runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';

const ALICE_DN = 'OU=urn:byoc:request:r-aaaaaaaaaa,CN=alice@vendor.example';
const DAVE_DN = 'OU=urn:byoc:request:r-dddddddddd,CN=dave@vendor.example';

/** A line as nginx's byoc_metrics format writes it (src/sandbox/render.ts). */
function line(fields: Partial<MetricsLogEntry> & { time: string }): string {
  const entry = {
    remote: '127.0.0.1', method: 'GET', uri: fields.path ?? '/api/v1/query', path: '/api/v1/query', status: 200, bytes: 120, verify: 'SUCCESS', dn: ALICE_DN,
    request: 'r-aaaaaaaaaa', granted: 'r-aaaaaaaaaa', header: 'r-aaaaaaaaaa', ...fields,
  };
  return JSON.stringify({ time: entry.time, remote: entry.remote, method: entry.method, uri: entry.uri, path: entry.path, status: entry.status, bytes: entry.bytes, verify: entry.verify, dn: entry.dn, request: entry.request, granted: entry.granted, header: entry.header });
}

// The FakeClock's now is 2026-11-21T10:00:00Z.
const LOG = [
  line({ time: '2026-11-19T10:00:00+00:00' }), // outside the default 24h
  line({ time: '2026-11-21T09:00:00+00:00' }),
  line({ time: '2026-11-21T09:10:00+00:00', path: '/api/v1/query_range' }),
  line({ time: '2026-11-21T09:20:00+00:00', method: 'POST', uri: '/api/v1/admin/tsdb/snapshot', path: '/api/v1/admin/tsdb/snapshot', status: 403 }),
  line({ time: '2026-11-21T09:25:00+00:00', status: 400 }), // Prometheus: bad query
  line({ time: '2026-11-21T09:30:00+00:00', header: 'r-zzzzzzzzzz' }),
  // dave: a clickhouse-only grant (not in metrics.map), then revoked
  line({ time: '2026-11-21T09:40:00+00:00', dn: DAVE_DN, request: 'r-dddddddddd', granted: '', header: '', status: 403 }),
  line({ time: '2026-11-21T09:50:00+00:00', dn: DAVE_DN, request: 'r-dddddddddd', granted: '', header: '', status: 400, verify: 'FAILED:certificate revoked' }),
  '127.0.0.1 - - [21/Nov/2026:09:55:00 +0000] "GET / HTTP/1.1" 200 0', // another format: skipped
  '',
].join('\n');

describe('reading the metrics log', () => {
  it('parses a line of the nginx format and refuses anything else', () => {
    expect(parseMetricsLine(line({ time: '2026-11-21T09:00:00+00:00' }))).toMatchObject({ path: '/api/v1/query', status: 200, request: 'r-aaaaaaaaaa' });
    expect(parseMetricsLine('{"time":"yesterday","path":"/","status":200}')).toBeUndefined();
    expect(parseMetricsLine('{"time":"2026-11-21T09:00:00Z","path":"/","status":"200"}')).toBeUndefined();
    expect(parseMetricsLine('{torn')).toBeUndefined();
  });

  it('takes the engineer from the certificate subject and tells refusals at the proxy from Prometheus errors', () => {
    expect(engineerOf(ALICE_DN)).toBe('alice@vendor.example');
    expect(engineerOf('')).toBe('');
    expect(refusedByProxy({ status: 403, verify: 'SUCCESS', granted: 'r-a' })).toBe(true);
    expect(refusedByProxy({ status: 400, verify: 'FAILED:certificate revoked', granted: '' })).toBe(true);
    expect(refusedByProxy({ status: 400, verify: 'NONE', granted: '' })).toBe(true);
    expect(refusedByProxy({ status: 400, verify: 'SUCCESS', granted: 'r-a' })).toBe(false);
  });

  it('sums up per request and engineer, with findings for a foreign header, a refused path and a refused certificate', () => {
    // Given the log's entries, When summed over the day before now
    const entries = LOG.split('\n').map(parseMetricsLine).filter((entry): entry is MetricsLogEntry => entry !== undefined);
    const report = summarize(entries, { since: Date.parse('2026-11-20T10:00:00Z'), until: Date.parse('2026-11-21T10:00:01Z') });
    // Then alice's request and dave's each have one row
    expect(report).toMatchObject({ calls: 7, refusals: 3 });
    expect(report.requests).toEqual([
      {
        requestId: 'r-aaaaaaaaaa', engineer: 'alice@vendor.example', calls: 5, refusals: 1, errors: 1,
        endpoints: { '/api/v1/query': 3, '/api/v1/query_range': 1, '/api/v1/admin/tsdb/snapshot': 1 },
        first: '2026-11-21T09:00:00+00:00', last: '2026-11-21T09:30:00+00:00',
      },
      { requestId: 'r-dddddddddd', engineer: 'dave@vendor.example', calls: 2, refusals: 2, errors: 0, endpoints: { '/api/v1/query': 2 }, first: '2026-11-21T09:40:00+00:00', last: '2026-11-21T09:50:00+00:00' },
    ]);
    expect(report.findings.map((finding) => [finding.kind, finding.requestId])).toEqual([
      ['refused_path', 'r-aaaaaaaaaa'],
      ['header_mismatch', 'r-aaaaaaaaaa'],
      ['refused_certificate', 'r-dddddddddd'],
    ]);
    expect(report.findings[1]!.detail).toContain('X-Byoc-Request: r-zzzzzzzzzz');
  });
});

describe('byoc audit metrics', () => {
  it('--json: the report of a named log over --since', async () => {
    // Given a proxy log
    const dir = tempDir({ 'metrics.log': LOG });
    // When audited as JSON over the last 24 hours
    const result = await runCli(['audit', 'metrics', '--log', path.join(dir, 'metrics.log'), '--json']);
    // Then the two requests, the skipped line and the window are in the document
    expect(result.exitCode, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ source: path.join(dir, 'metrics.log'), calls: 7, refusals: 3, skipped: 1, since: '2026-11-20T10:00:00.000Z' });
    expect(report.requests.map((row: { requestId: string }) => row.requestId)).toEqual(['r-aaaaaaaaaa', 'r-dddddddddd']);
    // And a wider --since takes the older call in
    const week = JSON.parse((await runCli(['audit', 'metrics', '--log', path.join(dir, 'metrics.log'), '--since', '7d', '--json'])).stdout);
    expect(week.calls).toBe(8);
  });

  it('text on a pipe: one tab-separated row per request, then the findings; a table on a TTY', async () => {
    const dir = tempDir({ 'metrics.log': LOG });
    const piped = await runCli(['audit', 'metrics', '--log', path.join(dir, 'metrics.log')]);
    expect(piped.exitCode).toBe(0);
    expect(piped.stdout).toContain('r-aaaaaaaaaa\talice@vendor.example\t5\t1\t1\t');
    expect(piped.stdout).toContain('refused_certificate\tr-dddddddddd\tdave@vendor.example');
    const tty = await runCli(['audit', 'metrics', '--log', path.join(dir, 'metrics.log')], { stdoutTTY: true });
    expect(tty.exitCode).toBe(0);
    expect(tty.stdout).not.toContain('\t');
    expect(tty.stdout).toMatch(/r-aaaaaaaaaa\s+alice@vendor\.example\s+5\s+1\s+1/);
    expect(tty.stdout).toContain('3 findings');
  });

  it("reads the sandbox's log by default, and says how to get one when there is none", async () => {
    // Given a state folder whose sandbox never logged a metrics call
    const stateDir = tempDir();
    // When / Then a configuration error naming the file and the way forward
    const result = await runCli(['audit', 'metrics', '--json'], { env: { BYOC_STATE_DIR: stateDir } });
    expect(result.exitCode).toBe(3);
    const error = JSON.parse(result.stdout || result.stderr).error;
    expect(error.code).toBe('metrics_log_unreadable');
    expect(error.message).toContain(path.join(stateDir, 'sandbox', 'nginx', 'logs', 'metrics.log'));
    expect(error.hint).toContain('byoc sandbox up');
  });

  it('refuses a --since that is neither a duration nor a time', async () => {
    const result = await runCli(['audit', 'metrics', '--log', '/dev/null', '--since', 'lately']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--since "lately"');
  });
});

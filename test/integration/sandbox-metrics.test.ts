/**
 * Tier 3: the sandbox's real Prometheus (Debian's 2.42, scraping itself and prometheus-node-exporter) behind the
 * sandbox's nginx metrics door, proven from outside byoc: curl with the grant's certificate, as anyone holding
 * the files could. One sandbox for the file; afterAll always takes it down.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { SANDBOX_HOST } from '../../src/sandbox/layout.js';
import { sandboxTier, sandboxWorkspace } from './tier.js';

interface Files {
  cert: string;
  key: string;
}

interface Answer {
  status: number;
  body: string;
}

describe.skipIf(!sandboxTier('sandbox metrics integration tier'))('sandbox: Prometheus behind the nginx metrics door', () => {
  const ws = sandboxWorkspace('metrics');

  /** The grant's certificate and key, where `byoc cert get` put them. */
  async function certificateOf(identity: string): Promise<Files> {
    const got = await ws.as(identity, ['cert', 'get', 'sandbox', '--json']);
    expect(got.exitCode, got.stderr).toBe(0);
    const { certPath, keyPath } = JSON.parse(got.stdout) as { certPath: string; keyPath: string };
    return { cert: certPath, key: keyPath };
  }

  /** curl straight to nginx's metrics door; `--path-as-is` so curl itself does not tidy the path. */
  function curl(files: Files | undefined, urlPath: string, extra: string[] = [], port = ws.up.nginx.metricsPort): Promise<Answer> {
    const args = [
      '-sS', '--max-time', '10', '--path-as-is', '--cacert', ws.up.caFile,
      ...(files ? ['--cert', files.cert, '--key', files.key] : []),
      '--resolve', `${SANDBOX_HOST}:${port}:127.0.0.1`, '-w', '\n%{http_code}', ...extra, `https://${SANDBOX_HOST}:${port}${urlPath}`,
    ];
    return new Promise((resolve) => {
      execFile('curl', args, (error, stdout, stderr) => {
        const lines = stdout.split('\n');
        const status = Number(lines.pop());
        resolve({ status: Number.isFinite(status) ? status : 0, body: `${lines.join('\n')}${error ? stderr : ''}` });
      });
    });
  }

  /** The metrics log's entries (one JSON object per line). */
  function logEntries(): Record<string, unknown>[] {
    const file = path.join(ws.stateDir, 'sandbox', 'nginx', 'logs', 'metrics.log');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** nginx writes its access log line after the response; wait for it. */
  async function logLine(match: (entry: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const found = logEntries().find(match);
      if (found) return found;
      await delay(100);
    }
    throw new Error('no such line in the metrics log');
  }

  it('up starts Prometheus and the node exporter on loopback and registers the metrics door as the service prometheus', async () => {
    // When the status is asked for
    const status = JSON.parse((await ws.as(undefined, ['sandbox', 'status', '--json'])).stdout);
    // Then Prometheus and the node exporter run, and nginx answers on both doors
    expect(status).toMatchObject({ up: true, prometheus: { running: true, healthy: true }, nodeExporter: { running: true, healthy: true }, nginx: { metricsUrl: ws.up.nginx.metricsUrl } });
    // And Prometheus keeps its storage in the sandbox folder
    expect(readdirSync(path.join(ws.stateDir, 'sandbox', 'prometheus', 'data')).length).toBeGreaterThan(0);
    // And byoc metrics finds it in the service configuration
    const services = JSON.parse(readFileSync(path.join(ws.stateDir, 'services.json'), 'utf8'));
    expect(services.sandbox.prometheus).toEqual({ url: ws.up.nginx.metricsUrl, caFile: ws.up.caFile });
    expect(ws.up.prometheus.url).toBe(`http://127.0.0.1:${ws.up.prometheus.port}`);
  });

  it('a request approved with the metrics scope reads every allowlisted endpoint with its certificate; the log names the request', async () => {
    // Given an engineer whose request bob approved with the metrics scope only
    const { identity, requestId } = await ws.approvedEngineer('mona', 'metrics', ['metrics']);
    const files = await certificateOf(identity);
    // When curl asks for `up` until the first scrapes are in (every 2 s)
    let up: Answer = { status: 0, body: '' };
    for (let attempt = 0; attempt < 60; attempt++) {
      up = await curl(files, '/api/v1/query?query=up', ['-H', `X-Byoc-Request: ${requestId}`]);
      if (up.status === 200 && up.body.includes('"job":"node"') && up.body.includes('"job":"prometheus"')) break;
      await delay(500);
    }
    // Then Prometheus answers with both scrape jobs
    expect(up.status, up.body).toBe(200);
    expect(JSON.parse(up.body)).toMatchObject({ status: 'success', data: { resultType: 'vector' } });
    expect(up.body).toContain('"job":"node"');
    // And every other read endpoint passes too, GET and POST
    const now = Math.floor(Date.now() / 1000);
    for (const [urlPath, extra] of [
      [`/api/v1/query_range?query=up&start=${now - 60}&end=${now}&step=5`, []],
      ['/api/v1/series?match[]=up', ['-g']],
      ['/api/v1/labels', []],
      ['/api/v1/label/job/values', []],
      ['/api/v1/metadata?metric=up', []],
      ['/api/v1/status/buildinfo', []],
      ['/api/v1/query', ['--data-urlencode', 'query=node_load1']],
    ] as const) {
      const answer = await curl(files, urlPath, [...extra]);
      expect(answer.status, `${urlPath}: ${answer.body}`).toBe(200);
      expect(JSON.parse(answer.body).status, urlPath).toBe('success');
    }
    // And the metrics log names the request from the certificate, and the header byoc would send
    const line = await logLine((entry) => entry.path === '/api/v1/query' && entry.header === requestId);
    expect(line).toMatchObject({ request: requestId, granted: requestId, status: 200, verify: 'SUCCESS', dn: `OU=urn:byoc:request:${requestId},CN=${identity}` });
    // And a metrics-only grant has no ClickHouse user: the ClickHouse door refuses the same certificate
    const clickhouse = await curl(files, '/?query=SELECT%201', [], Number(new URL(ws.up.nginx.url).port));
    expect(clickhouse.status).toBe(403);
  }, 60_000);

  it('refuses admin, lifecycle, remote-write and any other path at nginx, whatever the spelling, even with a good certificate', async () => {
    // Given an engineer with the metrics scope (and the other scopes)
    const { identity } = await ws.approvedEngineer('oscar', 'metrics');
    const files = await certificateOf(identity);
    // When curl asks for paths outside the read allowlist, spelled plainly and oddly
    const refused: [string, string[]][] = [
      ['/api/v1/admin/tsdb/snapshot', ['-X', 'POST']],
      ['/api/v1/admin/tsdb/delete_series?match[]=up', ['-X', 'POST', '-g']],
      ['/api/v1/admin/tsdb/clean_tombstones', ['-X', 'POST']],
      ['/-/quit', ['-X', 'POST']],
      ['/-/reload', ['-X', 'POST']],
      ['/api/v1/write', ['-X', 'POST', '--data-binary', 'x']],
      ['/api/v1/query/../admin/tsdb/snapshot', ['-X', 'POST']],
      ['/api/v1//admin/tsdb/snapshot', ['-X', 'POST']],
      ['//api/v1/query?query=up', []],
      ['/api/v1/%61dmin/tsdb/snapshot', ['-X', 'POST']],
      ['/api/v1/query%2F..%2F..%2F-%2Fquit', ['-X', 'POST']],
      ['/api/v1/label/..%2F..%2Fadmin/values', []],
      ['/api/v1/status/config', []],
      ['/api/v1/targets', []],
      ['/federate?match[]=up', ['-g']],
      ['/graph', []],
      ['/api/v1/series?match[]=up', ['-X', 'DELETE', '-g']],
    ];
    for (const [urlPath, extra] of refused) {
      const answer = await curl(files, urlPath, extra);
      // Then nginx answers 403 (400 for a path that climbs above the root) and Prometheus never sees it
      expect([400, 403], `${urlPath}: ${answer.status} ${answer.body}`).toContain(answer.status);
      expect(answer.body, urlPath).not.toContain('"status"');
      // (Prometheus refuses lifecycle paths itself with a 403 of its own: the body shows which of the two answered.)
      expect(answer.body, urlPath).toMatch(/byoc sandbox: only the read endpoints|<center>nginx<\/center>/);
    }
    // And Prometheus is still up: the lifecycle calls never reached it, and no snapshot was taken
    const status = JSON.parse((await ws.as(undefined, ['sandbox', 'status', '--json'])).stdout);
    expect(status.prometheus).toMatchObject({ running: true, healthy: true });
    expect(existsSync(path.join(ws.stateDir, 'sandbox', 'prometheus', 'data', 'snapshots'))).toBe(false);
  }, 60_000);

  it('refuses a request without the metrics scope, and a revoked one, at nginx', async () => {
    // Given an engineer whose request has only the clickhouse scope
    const { identity: clickhouseOnly, requestId: clickhouseRequest } = await ws.approvedEngineer('carl', 'clickhouse only', ['clickhouse']);
    const without = await curl(await certificateOf(clickhouseOnly), '/api/v1/query?query=up');
    // Then the metrics door refuses the certificate
    expect(without.status).toBe(403);
    expect(without.body).toContain('no approved metrics access');
    expect(await logLine((entry) => entry.request === clickhouseRequest)).toMatchObject({ granted: '', status: 403 });

    // Given an engineer with the metrics scope whose call passes
    const { identity, requestId } = await ws.approvedEngineer('rita', 'to be revoked', ['metrics']);
    const files = await certificateOf(identity);
    expect((await curl(files, '/api/v1/query?query=up')).status).toBe(200);
    // When bob revokes the request
    const revoked = await ws.as('bob@vendor.example', ['access', 'revoke', requestId, '--comment', 'done']);
    expect(revoked.exitCode, revoked.stderr).toBe(0);
    // Then the same certificate is refused at once (the CRL: 400, or the mapping: 403)
    const after = await curl(files, '/api/v1/query?query=up');
    expect([400, 403], after.body).toContain(after.status);
    expect(after.body).toMatch(/certificate has been revoked|no approved metrics access|<center>nginx<\/center>/);
    expect(readFileSync(path.join(ws.stateDir, 'sandbox', 'nginx', 'metrics.map'), 'utf8')).not.toContain(requestId);
    expect(await logLine((entry) => entry.request === requestId && entry.status !== 200)).toMatchObject({ request: requestId });
  }, 60_000);

  it('byoc metrics query, range, series and labels read the real Prometheus through the door, each call logged under the request', async () => {
    // Given an engineer approved with the metrics scope
    const { identity, requestId } = await ws.approvedEngineer('petra', 'metrics through byoc', ['metrics']);
    // When she queries the node exporter's load through byoc
    const query = await ws.as(identity, ['metrics', 'query', 'sandbox', 'node_load1', '--json']);
    expect(query.exitCode, query.stderr).toBe(0);
    const instant = JSON.parse(query.stdout) as { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
    // Then Prometheus answered with the series the sandbox scrapes
    expect(instant.resultType).toBe('vector');
    expect(instant.result[0]?.metric).toMatchObject({ __name__: 'node_load1', job: 'node' });
    // and a range, the series and the label values answer too (the scrape runs every 2 s)
    const range = await ws.as(identity, ['metrics', 'range', 'sandbox', 'up', '--since', '1m', '--step', '5s', '--format', 'ndjson']);
    expect(range.exitCode, range.stderr).toBe(0);
    expect(range.stdout.trim().split('\n').length).toBeGreaterThan(0);
    const series = await ws.as(identity, ['metrics', 'series', 'sandbox', 'up', '--json']);
    expect(series.exitCode, series.stderr).toBe(0);
    expect(series.stdout).toContain('"job"');
    const labels = await ws.as(identity, ['metrics', 'labels', 'sandbox', 'job', '--json']);
    expect(labels.exitCode, labels.stderr).toBe(0);
    expect(JSON.parse(labels.stdout)).toEqual(expect.objectContaining({ values: expect.arrayContaining(['node', 'prometheus']) }));
    // and nginx logged each call under her request, from the certificate and the header alike
    const entry = await logLine((line) => line.request === requestId && String(line.uri ?? line.path ?? '').includes('/api/v1/label'));
    expect(entry).toMatchObject({ request: requestId, status: 200 });
    // When the request is revoked / Then byoc refuses before sending anything (exit 4)
    expect((await ws.as('bob@vendor.example', ['access', 'revoke', requestId, '--comment', 'done'])).exitCode).toBe(0);
    const after = await ws.as(identity, ['metrics', 'query', 'sandbox', 'up']);
    expect(after.exitCode, after.stderr).toBe(4);
  }, 60_000);

  it('byoc audit metrics sums up that log per request and engineer, with the refusals', async () => {
    // Given the calls above / When the customer audits the sandbox's metrics log
    const audit = await ws.as(undefined, ['audit', 'metrics', '--since', '1h', '--json']);
    expect(audit.exitCode, audit.stderr).toBe(0);
    const report = JSON.parse(audit.stdout) as {
      calls: number;
      refusals: number;
      requests: { requestId: string; engineer: string; calls: number; refusals: number; endpoints: Record<string, number> }[];
      findings: { kind: string; requestId: string }[];
    };
    // Then every request that called is there under its engineer, with its endpoints and refusals
    const byEngineer = (prefix: string) => report.requests.find((row) => row.engineer.startsWith(prefix))!;
    expect(byEngineer('mona')).toMatchObject({ refusals: 0, endpoints: expect.objectContaining({ '/api/v1/query': expect.any(Number), '/api/v1/labels': 1, '/api/v1/status/buildinfo': 1 }) });
    expect(byEngineer('oscar').refusals).toBeGreaterThanOrEqual(15);
    expect(byEngineer('carl')).toMatchObject({ calls: 1, refusals: 1 });
    expect(byEngineer('rita').refusals).toBeGreaterThanOrEqual(1);
    expect(report.calls).toBe(report.requests.reduce((sum, row) => sum + row.calls, 0));
    expect(report.findings.filter((finding) => finding.kind === 'refused_path').length).toBeGreaterThanOrEqual(15);
    // And the text form names the same requests
    const text = await ws.as(undefined, ['audit', 'metrics', '--since', '1h']);
    expect(text.stdout).toContain(byEngineer('mona').requestId);
  });
});

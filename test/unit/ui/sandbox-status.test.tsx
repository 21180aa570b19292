import { renderToString } from 'ink';
import { describe, expect, it } from 'vitest';
import type { SandboxStatus } from '../../../src/sandbox/sandbox.js';
import { SandboxStatusView } from '../../../src/ui/views/sandbox.js';

describe('the sandbox status view', () => {
  it('shows Prometheus, the node exporter and both nginx doors, and which grants have a ClickHouse user', () => {
    // Given a running sandbox with a metrics-only grant and a clickhouse grant
    const status = {
      service: 'sandbox', configured: true, up: true, registered: true,
      clickhouse: { running: true, healthy: true, pid: 10, httpUrl: 'http://127.0.0.1:18123' },
      nginx: { running: true, healthy: true, pid: 11, url: 'https://ch.sandbox.byoc.internal:18443', metricsUrl: 'https://ch.sandbox.byoc.internal:19443', workers: [12] },
      prometheus: { running: true, healthy: true, pid: 13, url: 'http://127.0.0.1:19090' },
      nodeExporter: { running: true, healthy: false, pid: 14, port: 19100 },
      identities: [],
      grants: [
        { requestId: 'r-aaaaaaaaaa', identity: 'alice@vendor.example', service: 'sandbox', user: 'byoc_r_aaaaaaaaaa_alice', notAfter: '2026-11-21T11:00:00.000Z', scopes: ['metrics'] },
        { requestId: 'r-bbbbbbbbbb', identity: 'bob@vendor.example', service: 'sandbox', user: 'byoc_r_bbbbbbbbbb_bob', notAfter: '2026-11-21T11:00:00.000Z', scopes: ['clickhouse', 'metrics'] },
      ],
      paths: { root: '/state/sandbox' },
    } as unknown as SandboxStatus;
    // When it is shown on a terminal
    const text = renderToString(SandboxStatusView({ status, color: false }), { columns: 200 });
    // Then every server has its line, the metrics door included
    expect(text).toMatch(/prometheus\s+up pid 13 http:\/\/127\.0\.0\.1:19090/);
    expect(text).toMatch(/exporter\s+not answering pid 14 127\.0\.0\.1:19100/);
    expect(text).toContain('https://ch.sandbox.byoc.internal:18443, https://ch.sandbox.byoc.internal:19443');
    // And a metrics-only grant names no ClickHouse user
    expect(text).toContain('r-aaaaaaaaaa alice@vendor.example (metrics) until');
    expect(text).toContain('r-bbbbbbbbbb bob@vendor.example (clickhouse, metrics) -> byoc_r_bbbbbbbbbb_bob until');
  });
});

import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddedClient } from '../../src/access/open.js';
import { translateError } from '../../src/clickhouse/client.js';
import { probeAdvice } from '../../src/connect/path-check.js';
import type { ProbeResult } from '../../src/net/probe.js';
import { translateKubernetesError } from '../../src/k8s/client.js';
import { createCsr, generateKeyPairPem } from '../../src/pki/x509.js';
import { openTestBroker } from '../fakes/broker.js';
import { FakeClock, runCli } from '../fakes/context.js';
import { tempDir } from '../fakes/fs.js';

/** What a hint must never print instead of a value byoc has at hand. */
const PLACEHOLDER = /<service>|<command>|<id>|<request id>|\bSERVICE\b|byoc <|<tailnet IP>/;

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function configIn(dir: string, yaml: string): string {
  writeFileSync(path.join(dir, 'byoc.config.yaml'), yaml);
  return dir;
}

describe('hints name the values at hand', () => {
  it('a refused ClickHouse connection names the service to check, end to end', async () => {
    // Given alice with an approved request for acme-prod, whose ClickHouse port is closed
    const stateDir = tempDir();
    const clock = new FakeClock(new Date());
    const { broker } = await openTestBroker(stateDir, clock);
    const request = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'x', duration: '1h' });
    await broker.approve('bob@vendor.example', request.id);
    const cwd = configIn(tempDir(), `services:\n  acme-prod:\n    clickhouse: { url: "https://127.0.0.1:${await closedPort()}" }\n`);
    // When she queries it
    const result = await runCli(['query', 'acme-prod', 'SELECT 1', '--json'], {
      cwd,
      clock,
      env: { BYOC_STATE_DIR: stateDir },
      clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) },
    });
    // Then the error says what to run next for acme-prod, not for "<service>"
    expect(result.exitCode).toBe(6);
    const { error } = JSON.parse(result.stderr);
    expect(error.code).toBe('clickhouse_unreachable');
    expect(error.hint).toMatch(/^Check the port in services\.acme-prod\.clickhouse\.url \(https:\/\/127\.0\.0\.1:\d+\), .* \(byoc connect check acme-prod shows each stage\)\.$/);
  });

  it('ClickHouse refusals name the request the customer must apply, and time-outs the service', () => {
    const target = { url: 'https://ch.acme.example:8443', service: 'acme-prod', requestId: 'r-0k3j9x2m1q' };
    const refused = translateError(new Error('Unexpected response: 403 Forbidden'), target) as { hint?: string };
    expect(refused.hint).toBe('The operator step may not be applied yet: the customer runs byoc access operator-config r-0k3j9x2m1q.');
    const slow = translateError(new Error('Timeout error.'), target) as { hint?: string };
    expect(slow.hint).toBe('Raise --timeout, or check the path: byoc connect check acme-prod.');
    // Without a service (the customer's own audit connection), the hint names the URL instead of a placeholder
    const audit = translateError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), { url: target.url }) as { hint?: string };
    expect(audit.hint).toBe('Check the port in the ClickHouse URL (https://ch.acme.example:8443), that the service listens there and that the tailnet ACLs allow it.');
  });

  it('Kubernetes failures name the service to diagnose and check', async () => {
    const { ApiException } = await import('@kubernetes/client-node');
    const what = { resource: 'nodes', verb: 'list' };
    const server = 'https://k8s.acme.example';
    const failed = translateKubernetesError(new ApiException(500, 'x', '{"message":"etcdserver: request timed out"}', {}), server, what, ApiException, undefined, 'acme-prod') as { hint?: string };
    expect(failed.hint).toBe('Retry; if it persists, check the API server health: byoc k8s diagnose acme-prod health');
    const unreachable = translateKubernetesError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), server, what, ApiException, undefined, 'acme-prod') as { hint?: string };
    expect(unreachable.hint).toBe('Check the port in services.acme-prod.kubernetes.server (https://k8s.acme.example), that the service listens there and that the tailnet ACLs allow it (byoc connect check acme-prod --target kubernetes shows each stage).');
    const tls = translateKubernetesError(new Error('self signed certificate in certificate chain'), server, what, ApiException, undefined, 'acme-prod') as { hint?: string };
    expect(tls.hint).toBe('Set services.acme-prod.kubernetes.caFile to the CA that signed the certificate of k8s.acme.example (byoc connect check acme-prod --target kubernetes shows its issuer).');
  });

  it("a certificate asked for someone else's request names that request's service", async () => {
    // Given alice's request for acme-prod, approved
    const { broker } = await openTestBroker(tempDir(), new FakeClock());
    const request = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'x', duration: '1h' });
    await broker.approve('bob@vendor.example', request.id);
    // When carol asks for a certificate on it
    const csr = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: 'carol@vendor.example' }]);
    // Then the hint tells her the request to make herself
    await expect(broker.issueCertificate('carol@vendor.example', request.id, csr)).rejects.toMatchObject({
      code: 'not_requester',
      hint: 'Request access for yourself: byoc access request acme-prod --reason "..."',
    });
  });

  it('a query without a service names the configured ones, and how the SQL was given', async () => {
    const cwd = configIn(tempDir(), 'services:\n  acme-prod:\n    clickhouse: { url: "https://ch.acme.example:8443" }\n  globex:\n    clickhouse: { url: "https://ch.globex.example:8443" }\n');
    const result = await runCli(['query', '--preset', 'merges'], { cwd });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('hint: byoc query acme-prod --preset merges (configured: acme-prod, globex), or --check to only validate');
  });

  it('SQL on a terminal stdin names the service to pipe it to', async () => {
    const result = await runCli(['query', 'acme-prod', '-'], { cwd: tempDir(), stdinTTY: true });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("hint: Pipe it in: echo 'SELECT 1' | byoc query acme-prod -");
  });

  it('an empty certificate list names a configured service to get one for', async () => {
    const cwd = configIn(tempDir(), 'services:\n  acme-prod:\n    clickhouse: { url: "https://ch.acme.example:8443" }\n');
    const result = await runCli(['cert', 'list'], { cwd, stdoutTTY: true, env: { BYOC_USER: 'alice@vendor.example', BYOC_STATE_DIR: tempDir() } });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('No certificates stored for alice@vendor.example. Get one with: byoc cert get acme-prod');
    // And --json is unchanged by it
    const json = await runCli(['cert', 'list', '--json'], { cwd, env: { BYOC_USER: 'alice@vendor.example', BYOC_STATE_DIR: tempDir() } });
    expect(JSON.parse(json.stdout)).toEqual({ identity: 'alice@vendor.example', certificates: [] });
  });

  it('a bad flag value names the command and a value that works', async () => {
    const result = await runCli(['query', 'acme-prod', 'SELECT 1', '--timeout', 'soon'], { cwd: tempDir() });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("hint: For example: --timeout 60s (the default); see 'byoc query --help' for --timeout (or set BYOC_QUERY_TIMEOUT).");
  });

  it('a name that does not resolve is mapped to the Tailscale IP of the peer found for it', () => {
    const probe = { dns: { ok: false, ms: 1, source: 'dns', addresses: [], error: { code: 'ENOTFOUND', message: 'not found' } } } as unknown as ProbeResult;
    const endpoint = { name: 'clickhouse' as const, url: new URL('https://ch.acme.example:8443') };
    expect(probeAdvice('acme-prod', endpoint, probe, '100.64.0.7')).toEqual([
      'ch.acme.example does not resolve here: enable MagicDNS (tailscale set --accept-dns) or add network.resolve: { ch.acme.example: 100.64.0.7 }',
    ]);
    expect(probeAdvice('acme-prod', endpoint, probe)[0]).not.toMatch(PLACEHOLDER);
  });

  it('an empty audit window names both ends and the flags to swap', async () => {
    const result = await runCli(['audit', 'query-log', '--url', 'https://ch.acme.example:8443', '--since', '1h', '--until', '2h'], { cwd: tempDir() });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--since 1h (2026-11-21T09:00:00.000Z) is not before --until 2h (2026-11-21T08:00:00.000Z)');
    expect(result.stderr).toContain('hint: Swap them, or widen the window: --since 2h --until 1h');
  });

  it('none of the hints above prints a placeholder', async () => {
    const target = { url: 'https://ch.acme.example:8443', service: 'acme-prod', requestId: 'r-0k3j9x2m1q' };
    const errors = [
      translateError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), target),
      translateError(new Error('unable to verify the first certificate'), target),
      translateError(new Error('403 Forbidden'), target),
      translateError(new Error('Timeout error.'), target),
      translateError(new Error('unable to verify the first certificate'), { url: target.url }),
      translateError(new Error('403 Forbidden'), { url: target.url }),
    ] as { hint?: string }[];
    for (const error of errors) expect(error.hint).not.toMatch(PLACEHOLDER);
  });
});

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, makeServerCert, type TestCa } from '../../../fakes/certs.js';
import { runCli } from '../../../fakes/context.js';
import { tempDir } from '../../../fakes/fs.js';
import { startHttpsServer, type FakeHttpsServer } from '../../../fakes/https-server.js';
import { tailscaleFixture } from '../../../fakes/tailscale/index.js';
import { ScriptedRunner, type ScriptedReply } from '../../../fakes/tailscale/runner.js';
import { TailscaleNotInstalledError } from '../../../../src/tailscale/runner.js';

const CH_HOST = 'ch.abc123.us-east-1.aws.byoc.example.com';
const K8S_HOST = 'k8s.abc123.us-east-1.aws.byoc.example.com';

let ca: TestCa;
let server: FakeHttpsServer;
beforeAll(async () => {
  ca = makeCa();
  server = await startHttpsServer(makeServerCert(ca, [CH_HOST, K8S_HOST]));
});
afterAll(() => server.close());

/** A workspace whose two endpoints resolve (by override) to the local HTTPS server. */
function workspace(extra = '') {
  const cwd = tempDir({ 'ca.pem': ca.certPem });
  writeFileSync(
    path.join(cwd, 'byoc.config.yaml'),
    `network:\n  resolve: { ${CH_HOST}: 127.0.0.1, ${K8S_HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${CH_HOST}:${server.port}", caFile: ./ca.pem }\n    kubernetes: { server: "https://${K8S_HOST}:${server.port}", caFile: ./ca.pem }\n${extra}`,
  );
  return cwd;
}

const scripted = (statusFile: string, pings: ScriptedReply[] = []) =>
  new ScriptedRunner([
    { match: /^status --json$/, stdout: tailscaleFixture(statusFile) },
    { match: /^netcheck --format=json$/, stdout: tailscaleFixture('netcheck-hard-nat.json') },
    ...pings,
  ]);

const directPings: ScriptedReply[] = [
  { match: /^ping .*100\.101\.23\.45$/, stdout: tailscaleFixture('ping-direct.txt') },
  { match: /^ping .*100\.88\.12\.34$/, stdout: 'pong from k8s (100.88.12.34) via 198.51.100.24:41641 in 3ms\n' },
];
const derpPings: ScriptedReply[] = [
  { match: /^ping .*100\.101\.23\.45$/, stdout: tailscaleFixture('ping-derp-only.txt'), exitCode: 1 },
  { match: /^ping .*100\.88\.12\.34$/, stdout: tailscaleFixture('ping-derp-only.txt'), exitCode: 1 },
];

describe('byoc connect check', () => {
  it('reports direct paths with DNS, TCP and TLS per endpoint (--json) and exits 0', async () => {
    // Given a tailnet where both peers answer directly, and endpoints that serve TLS signed by the configured CA
    const runner = scripted('status-direct.json', directPings);
    // When the check runs
    const result = await runCli(['connect', 'check', 'acme-prod', '--json'], { cwd: workspace(), clients: { tailscale: async () => runner } });
    // Then the verdict is direct and every stage passed
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ service: 'acme-prod', verdict: 'direct', tailscale: { up: true } });
    expect(report.targets.map((target: { name: string }) => target.name)).toEqual(['clickhouse', 'kubernetes']);
    const [clickhouse] = report.targets;
    expect(clickhouse).toMatchObject({ host: CH_HOST, path: 'direct', endpoint: '198.51.100.31:41641', dns: { ok: true, source: 'override', addresses: ['127.0.0.1'] }, tcp: { ok: true }, tls: { ok: true, authorized: true, nameMatches: true } });
    expect(clickhouse.tls.peerCertificate.subject).toContain(CH_HOST);
    expect(clickhouse.advice).toEqual([]);
    // And each stage's time is elapsedMs (the ...Ms convention), with `ms`, its 0.1 name, still there and equal
    for (const stage of ['dns', 'tcp', 'tls'] as const) {
      expect(typeof clickhouse[stage].elapsedMs).toBe('number');
      expect(clickhouse[stage].ms).toBe(clickhouse[stage].elapsedMs);
    }
    // And the peers were pinged concurrently, by Tailscale IP
    expect(runner.calls.filter((call) => call.args[0] === 'ping').map((call) => call.args.at(-1)).sort()).toEqual(['100.101.23.45', '100.88.12.34']);
  });

  it('says why a path is relayed, exits 0, and 6 with --require-direct', async () => {
    const relayed = await runCli(['connect', 'check', 'acme-prod', '--json'], { cwd: workspace(), clients: { tailscale: async () => scripted('status-derp.json', derpPings) } });
    expect(relayed.exitCode).toBe(0);
    const report = JSON.parse(relayed.stdout);
    expect(report.verdict).toBe('relayed');
    expect(report.targets[0].path).toBe('derp');
    expect(report.targets[0].advice.join('\n')).toMatch(/hard NAT/);
    expect(report.targets[0].advice.join('\n')).toMatch(/UDP 41641/);
    const strict = await runCli(['connect', 'check', 'acme-prod', '--require-direct'], { cwd: workspace(), clients: { tailscale: async () => scripted('status-derp.json', derpPings) } });
    expect(strict.exitCode).toBe(6);
    expect(strict.stderr).toContain('relayed');
  });

  it('exits 6 with the exact next step when tailscale is not installed or stopped', async () => {
    const missing = new ScriptedRunner([{ match: /./, error: new TailscaleNotInstalledError('tailscale') }]);
    const notInstalled = await runCli(['connect', 'check', 'acme-prod', '--json'], { cwd: workspace(), clients: { tailscale: async () => missing } });
    expect(notInstalled.exitCode).toBe(6);
    const report = JSON.parse(notInstalled.stdout);
    expect(report.verdict).toBe('tailscale-down');
    // the TLS path is still checked and reported
    expect(report.targets[0].tls.ok).toBe(true);
    expect(JSON.parse(notInstalled.stderr).error).toMatchObject({ code: 'tailscale_down', hint: expect.stringContaining('tailscale.bin') });
    const stopped = await runCli(['connect', 'check', 'acme-prod'], { cwd: workspace(), clients: { tailscale: async () => scripted('status-stopped.json') } });
    expect(stopped.exitCode).toBe(6);
    expect(stopped.stderr).toContain('tailscale up');
  });

  it('exits 6 with tailscale_down when the ping says Tailscale is stopped, not relayed with exit 0', async () => {
    // Given a DERP status read a moment before, and pings answering `Tailscale is stopped.` (the first miss)
    const stoppedPings: ScriptedReply[] = [{ match: /^ping /, stdout: 'Tailscale is stopped.\n', exitCode: 1 }];
    // When the check runs
    const result = await runCli(['connect', 'check', 'acme-prod', '--json'], { cwd: workspace(), clients: { tailscale: async () => scripted('status-derp.json', stoppedPings) } });
    // Then the verdict is tailscale-down, exit 6, with `tailscale up` as the next step
    expect(result.exitCode).toBe(6);
    const report = JSON.parse(result.stdout);
    expect(report.verdict).toBe('tailscale-down');
    expect(report.targets.map((target: { reason: string }) => target.reason)).toEqual(['tailscale-down', 'tailscale-down']);
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'tailscale_down', hint: expect.stringContaining('tailscale up') });
  });

  it('exits 5 with tailscale_error and the message when the ping fails for a reason byoc cannot name', async () => {
    // Given pings failing with an unfamiliar error
    const failing: ScriptedReply[] = [{ match: /^ping /, stderr: 'unknown peer\n', exitCode: 1 }];
    // When the check runs
    const result = await runCli(['connect', 'check', 'acme-prod', '--json'], { cwd: workspace(), clients: { tailscale: async () => scripted('status-direct.json', failing) } });
    // Then the verdict is error, exit 5 (a failed subprocess), naming the message
    expect(result.exitCode).toBe(5);
    expect(JSON.parse(result.stdout).verdict).toBe('error');
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'tailscale_error', message: expect.stringContaining('unknown peer') });
  });

  it('reports an endpoint behind a subnet router with the router in the JSON', async () => {
    // Given ClickHouse at a private name mapped to an address that k8s routes (10.100.0.0/16), whose pongs are direct.
    // The endpoint itself is the local HTTPS server: the TLS stage still needs something to talk to.
    const cwd = tempDir({ 'ca.pem': ca.certPem });
    writeFileSync(
      path.join(cwd, 'byoc.config.yaml'),
      `network:\n  resolve: { ${CH_HOST}: 10.100.4.7 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${CH_HOST}:${server.port}", caFile: ./ca.pem }\n`,
    );
    const status = JSON.parse(tailscaleFixture('status-direct.json'));
    // ch's own peer entry is removed, so the name is not a peer and only the route can match it
    status.Peer = Object.fromEntries(Object.entries(status.Peer).filter(([, peer]) => (peer as { HostName: string }).HostName === 'k8s'));
    const runner = new ScriptedRunner([
      { match: /^status --json$/, stdout: JSON.stringify(status) },
      { match: /^netcheck --format=json$/, stdout: tailscaleFixture('netcheck-good.json') },
      { match: /^debug derp-map$/, stderr: 'no derp map\n', exitCode: 1 },
      { match: /^ping .*100\.88\.12\.34$/, stdout: 'pong from k8s (100.88.12.34) via 198.51.100.24:41641 in 3ms\n' },
    ]);
    // When the check runs
    const result = await runCli(['connect', 'check', 'acme-prod', '--target', 'clickhouse', '--json', '--timeout', '1s'], { cwd, clients: { tailscale: async () => runner } });
    // Then the router was pinged, and the target names it with its route
    const report = JSON.parse(result.stdout);
    expect(runner.argsOf(/^ping/).map((args) => args.at(-1))).toEqual(['100.88.12.34']);
    expect(report.verdict).toBe('direct');
    expect(report.targets[0]).toMatchObject({ path: 'direct', router: { name: 'k8s', ip: '100.88.12.34', route: '10.100.0.0/16', address: '10.100.4.7' } });
    expect(report.targets[0].advice.join('\n')).toContain('via router k8s');
    // And the table for people names the router beside the path
    const tty = await runCli(['connect', 'check', 'acme-prod', '--target', 'clickhouse', '--timeout', '1s'], { cwd, stdoutTTY: true, clients: { tailscale: async () => runner } });
    expect(tty.stdout).toMatch(/clickhouse\s+direct\s+198\.51\.100\.24:41641 \(router k8s\)/);
  });

  it('--target limits the check to one endpoint', async () => {
    const runner = scripted('status-direct.json', directPings);
    const result = await runCli(['connect', 'check', 'acme-prod', '--target', 'clickhouse', '--json'], { cwd: workspace(), clients: { tailscale: async () => runner } });
    expect(JSON.parse(result.stdout).targets.map((target: { name: string }) => target.name)).toEqual(['clickhouse']);
    expect(runner.calls.filter((call) => call.args[0] === 'ping')).toHaveLength(1);
  });

  it('flags an untrusted server certificate with the key to set', async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'byoc.config.yaml'), `network:\n  resolve: { ${CH_HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${CH_HOST}:${server.port}" }\n`);
    const result = await runCli(['connect', 'check', 'acme-prod', '--json'], { cwd, clients: { tailscale: async () => scripted('status-direct.json', directPings) } });
    const [target] = JSON.parse(result.stdout).targets;
    expect(target.tls).toMatchObject({ ok: false, authorized: false });
    expect(target.advice.join('\n')).toContain('services.acme-prod.clickhouse.caFile');
  });

  it('prints tab-separated rows when piped and a table with the verdict on a TTY', async () => {
    const piped = await runCli(['connect', 'check', 'acme-prod'], { cwd: workspace(), clients: { tailscale: async () => scripted('status-direct.json', directPings) } });
    expect(piped.stdout.split('\n')[0]).toBe('verdict\tdirect');
    expect(piped.stdout).toMatch(/^clickhouse\tdirect\t198\.51\.100\.31:41641\t\d+(\.\d+)?\tok \d+ms\tok \d+ms\tok \d+ms\t/m);
    const tty = await runCli(['connect', 'check', 'acme-prod'], { cwd: workspace(), stdoutTTY: true, clients: { tailscale: async () => scripted('status-derp.json', derpPings) } });
    expect(tty.stdout.split('\n')[0]).toBe('acme-prod relayed');
    expect(tty.stdout).toMatch(/TARGET\s+PATH\s+VIA/);
    expect(tty.stdout).toMatch(/clickhouse\s+derp\s+DERP nyc/);
  });

  it('refuses an unknown service (exit 3) and a service with nothing to check', async () => {
    expect((await runCli(['connect', 'check', 'nope'], { cwd: workspace(), clients: { tailscale: async () => scripted('status-direct.json') } })).exitCode).toBe(3);
    const cwd = tempDir({ 'byoc.config.yaml': 'services:\n  empty: {}\n' });
    const result = await runCli(['connect', 'check', 'empty'], { cwd, clients: { tailscale: async () => scripted('status-direct.json') } });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('services.empty.clickhouse.url');
  });
});

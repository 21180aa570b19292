import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../src/access/connect.js';
import { makeCa, makeServerCert, type TestCa } from '../../fakes/certs.js';
import { FakeClock, runCli } from '../../fakes/context.js';
import { openTestBroker } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';
import { startFakeClickHouse, type FakeClickHouse } from '../../fakes/clickhouse-server.js';
import { testBrokerCa } from '../../fakes/broker.js';
import { tailscaleFixture } from '../../fakes/tailscale/index.js';
import { ScriptedRunner } from '../../fakes/tailscale/runner.js';

const CH_HOST = 'ch.abc123.us-east-1.aws.byoc.example.com';
let ca: TestCa;
let server: FakeClickHouse;
beforeAll(async () => {
  ca = makeCa();
  // a ClickHouse endpoint that, like the customer's nginx, wants a client certificate from the broker's CA
  server = await startFakeClickHouse({ ...makeServerCert(ca, [CH_HOST]), clientCa: (await testBrokerCa()).certPem, answer: () => ({ names: ['version()'], types: ['String'], rows: [['24.8.1.1']] }) });
});
afterAll(() => server.close());

const tailscale = () =>
  new ScriptedRunner([
    { match: /^status --json$/, stdout: tailscaleFixture('status-direct.json') },
    { match: /^netcheck --format=json$/, stdout: tailscaleFixture('netcheck-good.json') },
    { match: /^ping /, stdout: tailscaleFixture('ping-direct.txt') },
  ]);

async function workspace(approved: boolean) {
  const cwd = tempDir({ 'ca.pem': ca.certPem });
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), `network:\n  resolve: { ${CH_HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${CH_HOST}:${server.port}", caFile: ./ca.pem }\n`);
  const stateDir = tempDir();
  // certificates are checked by a real TLS server against real time
  const clock = new FakeClock(new Date());
  const { broker } = await openTestBroker(stateDir, clock);
  if (approved) {
    const request = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'x', duration: '2h' });
    await broker.approve('bob@vendor.example', request.id);
  }
  return { cwd, clock, env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir), tailscale: async () => tailscale() } };
}

describe('byoc doctor', () => {
  it('passes the whole chain when access, certificate and path are good', async () => {
    // Given an approved request with its certificate, and a direct path to a trusted endpoint
    const setup = await workspace(true);
    expect((await runCli(['cert', 'get', 'acme-prod'], setup)).exitCode).toBe(0);
    // When the doctor runs for the service
    const result = await runCli(['doctor', 'acme-prod', '--json'], setup);
    // Then every step passes, in chain order
    const report = JSON.parse(result.stdout);
    expect(report.steps.map((step: { id: string; status: string }) => `${step.id}:${step.status}`)).toEqual([
      'config:PASS', 'broker:PASS', 'request:PASS', 'certificate:PASS', 'tailscale:PASS', 'dns:PASS', 'tcp:PASS', 'tls:PASS', 'clickhouse:PASS', 'kubernetes:SKIPPED',
    ]);
    expect(report.steps.find((step: { id: string }) => step.id === 'clickhouse').evidence).toContain('ClickHouse 24.8.1.1');
    expect(server.queries.at(-1)!.commonName).toBe('alice@vendor.example');
    expect(report.verdict).toBe('PASS');
    expect(result.exitCode).toBe(0);
  });

  it('fails with the first failing step’s exit code and says what to do next', async () => {
    // Given no access request
    const setup = await workspace(false);
    const result = await runCli(['doctor', 'acme-prod', '--json'], setup);
    const report = JSON.parse(result.stdout);
    const request = report.steps.find((step: { id: string }) => step.id === 'request');
    expect(request).toMatchObject({ status: 'FAIL', kind: 'not-allowed', next: 'byoc access request acme-prod --reason "..."' });
    // the certificate step depends on it and is skipped, network steps still run
    expect(report.steps.find((step: { id: string }) => step.id === 'certificate').status).toBe('SKIPPED');
    expect(report.steps.find((step: { id: string }) => step.id === 'tls').status).toBe('PASS');
    expect(result.exitCode).toBe(4);
  });

  it('fails at configuration with exit 3 and skips what depends on it', async () => {
    const cwd = tempDir({ 'byoc.config.yaml': 'servics: {}\n' });
    const result = await runCli(['doctor'], { cwd, clients: { tailscale: async () => tailscale() } });
    expect(result.exitCode).toBe(3);
    expect(result.stdout.split('\n')[1]).toMatch(/^FAIL\tconfig\tinvalid configuration/);
    expect(result.stdout).toContain('SKIPPED\tbroker');
  });

  it('without a service checks configuration, broker and the Tailscale daemon only', async () => {
    const setup = await workspace(false);
    const result = await runCli(['doctor'], { ...setup, stdoutTTY: true });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('byoc doctor: PASS');
    expect(result.stdout).toMatch(/✓ PASS\s+Tailscale path\s+tailscaled Running/);
    expect(result.stdout).not.toContain('Certificate');
  });
});

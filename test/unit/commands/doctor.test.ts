import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../src/access/open.js';
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
  return { cwd, clock, broker, env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir), tailscale: async () => tailscale() } };
}

type Step = { id: string; status: string; evidence: string; next?: string; kind?: string };
const stepOf = (report: { steps: Step[] }, id: string) => report.steps.find((step) => step.id === id)!;

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
      'config:PASS', 'broker:PASS', 'request:PASS', 'certificate:PASS', 'tailscale:PASS', 'dns:PASS', 'tcp:PASS', 'tls:PASS', 'clickhouse:PASS', 'kubernetes:SKIPPED', 'metrics:SKIPPED',
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

  it('fails the certificate step once its request is revoked, naming who and when, though the file still looks valid', async () => {
    // Given alice's certificate, then carol revokes the request
    const setup = await workspace(true);
    expect((await runCli(['cert', 'get', 'acme-prod'], setup)).exitCode).toBe(0);
    const [request] = await setup.broker.list('alice@vendor.example', { mine: true });
    const revoked = await setup.broker.revoke('carol@vendor.example', request!.id);
    // When the doctor runs
    const result = await runCli(['doctor', 'acme-prod', '--json'], setup);
    const report = JSON.parse(result.stdout);
    // Then the certificate step FAILs with the revocation (not SKIPPED, not PASS), and what depends on it is skipped
    expect(stepOf(report, 'certificate')).toMatchObject({
      status: 'FAIL',
      kind: 'not-allowed',
      evidence: expect.stringContaining(`your access to acme-prod (${request!.id}) was revoked by carol@vendor.example at ${revoked.revokedAt}`),
      next: 'Request access again if you still need it: byoc access request acme-prod --reason "..."',
    });
    expect(stepOf(report, 'clickhouse').status).toBe('SKIPPED');
    expect(report.verdict).toBe('FAIL');
    expect(result.exitCode).toBe(4);
  });

  it('with another approved request, still fails the revoked certificate and says to get one for the approved request', async () => {
    // Given alice's certificate for a request that is revoked, and a second approved request
    const setup = await workspace(true);
    expect((await runCli(['cert', 'get', 'acme-prod'], setup)).exitCode).toBe(0);
    const [first] = await setup.broker.list('alice@vendor.example', { mine: true });
    await setup.broker.revoke('carol@vendor.example', first!.id);
    const second = await setup.broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'again', duration: '1h' });
    await setup.broker.approve('bob@vendor.example', second.id);
    // When the doctor runs, Then the request step passes but the certificate step does not
    const report = JSON.parse((await runCli(['doctor', 'acme-prod', '--json'], setup)).stdout);
    expect(stepOf(report, 'request').status).toBe('PASS');
    expect(stepOf(report, 'certificate')).toMatchObject({ status: 'FAIL', next: `byoc cert get acme-prod (for ${second.id}, still approved)` });
    // And after that next step, it passes
    expect((await runCli(['cert', 'get', 'acme-prod'], setup)).exitCode).toBe(0);
    const fixed = JSON.parse((await runCli(['doctor', 'acme-prod', '--json'], setup)).stdout);
    expect(stepOf(fixed, 'certificate')).toMatchObject({ status: 'PASS', evidence: expect.stringContaining(`request ${second.id} approved`) });
  });

  it("does not pass on another identity's certificate on the same machine", async () => {
    // Given alice's certificate, and bob (no request) running the doctor on the same state folder
    const setup = await workspace(true);
    expect((await runCli(['cert', 'get', 'acme-prod'], setup)).exitCode).toBe(0);
    const bob = { ...setup, clients: { ...setup.clients, broker: async () => embeddedClient(setup.broker, 'bob@vendor.example', setup.env.BYOC_STATE_DIR) } };
    // When the doctor runs as bob, Then no certificate is found for him, and nothing reaches ClickHouse as anyone
    const before = server.queries.length;
    const result = await runCli(['doctor', 'acme-prod', '--json'], bob);
    const report = JSON.parse(result.stdout);
    expect(stepOf(report, 'request').status).toBe('FAIL');
    expect(stepOf(report, 'certificate')).toMatchObject({ status: 'SKIPPED', evidence: 'no certificate stored for bob@vendor.example, and no approved request to get one for' });
    expect(server.queries.length).toBe(before);
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

  it('fails the Tailscale path as tailscale-down when the ping says stopped, and as a remote failure when it fails otherwise', async () => {
    // Given a direct status, and pings that answer `Tailscale is stopped.`, then pings failing with `unknown peer`
    const setup = await workspace(false);
    const withPing = (reply: { stdout?: string; stderr?: string }) => async () =>
      new ScriptedRunner([
        { match: /^status --json$/, stdout: tailscaleFixture('status-direct.json') },
        { match: /^netcheck --format=json$/, stdout: tailscaleFixture('netcheck-good.json') },
        { match: /^ping /, ...reply, exitCode: 1 },
      ]);
    // When the doctor runs for the service
    const stopped = JSON.parse((await runCli(['doctor', 'acme-prod', '--json'], { ...setup, clients: { ...setup.clients, tailscale: withPing({ stdout: 'Tailscale is stopped.\n' }) } })).stdout);
    const failing = JSON.parse((await runCli(['doctor', 'acme-prod', '--json'], { ...setup, clients: { ...setup.clients, tailscale: withPing({ stderr: 'unknown peer\n' }) } })).stdout);
    // Then the first names the network and `tailscale up`, the second is a remote failure carrying the message
    expect(stepOf(stopped, 'tailscale')).toMatchObject({ status: 'FAIL', kind: 'network', next: expect.stringContaining('tailscale up') });
    expect(stepOf(failing, 'tailscale')).toMatchObject({ status: 'FAIL', kind: 'remote' });
    expect(stepOf(failing, 'tailscale').next).toContain('unknown peer');
  });
});

import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../src/access/open.js';
import { issueServerCertificate } from '../../../src/pki/ca.js';
import { generateKeyPairPem } from '../../../src/pki/x509.js';
import { openTestBroker, testBrokerCa } from '../../fakes/broker.js';
import { makeCa, makeServerCert } from '../../fakes/certs.js';
import { startFakeClickHouse, type FakeClickHouse } from '../../fakes/clickhouse-server.js';
import { startConnectProxy, type FakeConnectProxy } from '../../fakes/connect-proxy.js';
import { FakeClock, runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { nginxPage, startPageServer, startTlsAlertServer, type FakeServer } from '../../fakes/refusing-servers.js';
import { startSocks5Server, type FakeSocks5Server } from '../../fakes/socks5-server.js';
import { tailscaleFixture } from '../../fakes/tailscale/index.js';
import { ScriptedRunner } from '../../fakes/tailscale/runner.js';

/**
 * Errors that say what broke: each fault on the path to ClickHouse, through `byoc query` and the doctor, with its
 * exit code, the words naming the fault, and the setting to fix.
 */
// the tailnet name the Tailscale fixtures know, so the doctor's Tailscale step passes
const HOST = 'ch.abc123.us-east-1.aws.byoc.example.com';
const DAY = 24 * 60 * 60 * 1000;
const servers: { close(): Promise<void> }[] = [];
let good: FakeClickHouse;
let untrusted: FakeClickHouse;
let misnamed: FakeClickHouse;
let expired: FakeClickHouse;
const proxies: Record<string, FakeConnectProxy | FakeSocks5Server> = {};
const pages: Record<string, FakeServer> = {};
const alerts: Record<number, FakeServer> = {};
let closed: number;

beforeAll(async () => {
  const brokerCa = await testBrokerCa();
  const keys = await generateKeyPairPem();
  const certPem = issueServerCertificate(brokerCa, { publicKeyPem: keys.publicKeyPem, names: [HOST], notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 90 * DAY) });
  const answer = () => ({ names: ['version()'], types: ['String'], rows: [['24.8.1.1']] });
  const mutual = { clientCa: brokerCa.certPem, answer };
  const other = makeCa('someone else CA');
  good = await startFakeClickHouse({ certPem, keyPem: keys.privateKeyPem, ...mutual });
  untrusted = await startFakeClickHouse({ ...makeServerCert(other, [HOST]), ...mutual });
  misnamed = await startFakeClickHouse({ certPem: issueServerCertificate(brokerCa, { publicKeyPem: keys.publicKeyPem, names: ['other.byoc.example.com'], notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) }), keyPem: keys.privateKeyPem, ...mutual });
  expired = await startFakeClickHouse({ certPem: issueServerCertificate(brokerCa, { publicKeyPem: keys.publicKeyPem, names: [HOST], notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) }), keyPem: keys.privateKeyPem, ...mutual });
  servers.push(good, untrusted, misnamed, expired);
  proxies.connect403 = await startConnectProxy({}, { refuse: { status: 403, reason: 'Forbidden' } });
  proxies.connect407 = await startConnectProxy({}, { refuse: { status: 407, reason: 'Proxy Authentication Required' } });
  proxies.socksNotAllowed = await startSocks5Server({}, { reply: 2 });
  proxies.socksRefused = await startSocks5Server({}, { reply: 5 });
  servers.push(...Object.values(proxies));
  const page = (status: number, body: string, contentType?: string) => startPageServer({ certPem, keyPem: keys.privateKeyPem, status, body, ...(contentType ? { contentType } : {}) });
  pages.noCertificate = await page(400, nginxPage(400, 'Bad Request', 'No required SSL certificate was sent'));
  pages.certificateError = await page(400, nginxPage(400, 'Bad Request', 'The SSL certificate error'));
  pages.sandbox403 = await page(403, 'byoc sandbox: no approved access for this certificate\n', 'text/plain');
  pages.badGateway = await page(502, nginxPage(502, 'Bad Gateway'));
  servers.push(...Object.values(pages));
  for (const alert of [44, 48]) servers.push((alerts[alert] = await startTlsAlertServer(alert)));
  closed = await closedPort();
});
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const tailscale = () =>
  new ScriptedRunner([
    { match: /^status --json$/, stdout: tailscaleFixture('status-direct.json') },
    { match: /^netcheck --format=json$/, stdout: tailscaleFixture('netcheck-good.json') },
    { match: /^ping /, stdout: tailscaleFixture('ping-direct.txt') },
  ]);

/** An engineer with approved access to acme-prod, whose ClickHouse is at `port` (through `proxy`, if given). */
async function engineer(options: { port: number; proxy?: string; host?: string; resolve?: boolean }) {
  const stateDir = tempDir();
  const clock = new FakeClock(new Date());
  const { broker } = await openTestBroker(stateDir, clock);
  const request = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'merges stuck', ticket: 'INC-7', duration: '2h' });
  await broker.approve('bob@vendor.example', request.id);
  const cwd = tempDir({ 'ca.pem': (await testBrokerCa()).certPem });
  const host = options.host ?? HOST;
  const network = [options.resolve === false ? '' : `  resolve: { ${host}: 127.0.0.1 }\n`, options.proxy ? `  proxy: "${options.proxy}"\n` : ''].join('');
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), `${network ? `network:\n${network}` : ''}services:\n  acme-prod:\n    clickhouse: { url: "https://${host}:${options.port}", caFile: ./ca.pem }\n`);
  const setup = {
    cwd,
    clock,
    env: { BYOC_STATE_DIR: stateDir },
    clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir), tailscale: async () => tailscale() },
  };
  return { setup, requestId: request.id };
}

type Setup = Awaited<ReturnType<typeof engineer>>['setup'];

async function query(setup: Setup) {
  const result = await runCli(['query', 'acme-prod', 'SELECT version() FROM system.one', '--json'], setup);
  return { exitCode: result.exitCode, error: (JSON.parse(result.stderr) as { error: { code: string; message: string; hint?: string } }).error };
}

type Step = { id: string; status: string; evidence: string; next?: string; kind?: string };
async function doctor(setup: Setup) {
  expect((await runCli(['cert', 'get', 'acme-prod'], setup)).exitCode).toBe(0);
  const result = await runCli(['doctor', 'acme-prod', '--json'], setup);
  const report = JSON.parse(result.stdout) as { steps: Step[] };
  return { exitCode: result.exitCode, step: (id: string) => report.steps.find((step) => step.id === id)! };
}

describe('byoc query says what broke on the path, with the exit code and the setting to fix', () => {
  it('a proxy that answers 403 to CONNECT: exit 6, the status, and the proxy setting (not an empty remote error)', async () => {
    // Given network.proxy pointing at a proxy whose policy refuses the target
    const proxy = proxies.connect403 as FakeConnectProxy;
    const { setup } = await engineer({ port: good.port, proxy: `http://user:secret@127.0.0.1:${proxy.port}` });
    // When the engineer queries
    const { exitCode, error } = await query(setup);
    // Then the refusal is the proxy's, with its status, its URL without the password, and the setting that chose it
    expect(exitCode).toBe(6);
    expect(error.code).toBe('proxy_refused');
    expect(error.message).toContain(`the proxy http://user:***@127.0.0.1:${proxy.port}/ (network.proxy) answered 403 Forbidden to CONNECT 127.0.0.1:${good.port}`);
    expect(error.message).not.toContain('secret');
    expect(error.hint).toMatch(/does not allow connections to ch\.abc123\.us-east-1\.aws\.byoc\.example\.com:\d+.*set network\.proxy/);
  });

  it('a proxy that wants credentials (407): the hint says where to put them', async () => {
    const proxy = proxies.connect407 as FakeConnectProxy;
    const { setup } = await engineer({ port: good.port, proxy: `http://127.0.0.1:${proxy.port}` });
    const { exitCode, error } = await query(setup);
    expect(exitCode).toBe(6);
    expect(error.message).toContain('answered 407 Proxy Authentication Required');
    expect(error.hint).toBe('The proxy wants credentials: put them in network.proxy as http://user:password@host:port.');
  });

  it('SOCKS5 refusals are named by their reply code', async () => {
    // Given SOCKS proxies answering "not allowed by ruleset" and "connection refused"
    const notAllowed = await engineer({ port: good.port, proxy: (proxies.socksNotAllowed as FakeSocks5Server).url('socks5h') });
    const refused = await engineer({ port: good.port, proxy: (proxies.socksRefused as FakeSocks5Server).url('socks5h') });
    // When querying through each
    const [first, second] = [await query(notAllowed.setup), await query(refused.setup)];
    // Then both exit 6 naming the reply, and the hint fits it
    expect(first).toMatchObject({ exitCode: 6, error: { code: 'proxy_refused' } });
    expect(first.error.message).toContain(`could not connect to 127.0.0.1:${good.port}: connection not allowed by ruleset (2)`);
    expect(first.error.hint).toContain('does not allow connections to');
    expect(second).toMatchObject({ exitCode: 6, error: { code: 'proxy_refused' } });
    expect(second.error.message).toContain('connection refused (5)');
    expect(second.error.hint).toContain('services.acme-prod.clickhouse.url');
  });

  it('a closed SOCKS port is the proxy being unreachable, not the target refusing', async () => {
    const { setup } = await engineer({ port: good.port, proxy: `socks5h://127.0.0.1:${closed}` });
    const { exitCode, error } = await query(setup);
    expect(exitCode).toBe(6);
    expect(error.code).toBe('proxy_unreachable');
    expect(error.message).toContain(`cannot connect to the proxy socks5h://127.0.0.1:${closed} (network.proxy)`);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.hint).toMatch(/^Start the proxy at socks5h:\/\/127\.0\.0\.1:\d+ .*or fix or unset network\.proxy\.$/);
  });

  it('a name that does not resolve names the host and network.resolve', async () => {
    const { setup } = await engineer({ port: good.port, host: 'ch.acme.invalid', resolve: false });
    const { exitCode, error } = await query(setup);
    expect(exitCode).toBe(6);
    expect(error.code).toBe('dns_unresolved');
    expect(error.message).toContain('ch.acme.invalid');
    expect(error.hint).toContain('network.resolve: { ch.acme.invalid: ');
  });

  it('a closed port is the target refusing TCP', async () => {
    const { setup } = await engineer({ port: closed });
    const { exitCode, error } = await query(setup);
    expect(exitCode).toBe(6);
    expect(error.code).toBe('clickhouse_unreachable');
    expect(error.message).toContain(`${HOST}:${closed} refused the connection`);
    expect(error.hint).toContain(`services.acme-prod.clickhouse.url (https://${HOST}:${closed})`);
  });

  it('a server certificate from an untrusted CA is the path (exit 6) and names the caFile, not "your certificate"', async () => {
    const { setup } = await engineer({ port: untrusted.port });
    const { exitCode, error } = await query(setup);
    expect(exitCode).toBe(6);
    expect(error.code).toBe('tls_untrusted');
    expect(error.message).toMatch(/the certificate of ch\.abc123\.us-east-1\.aws\.byoc\.example\.com:\d+ is not trusted/);
    expect(error.message).not.toMatch(/your certificate/i);
    expect(error.hint).toContain(`Set services.acme-prod.clickhouse.caFile to the CA that signed the certificate of ${HOST}`);
  });

  it('a certificate for another name, and an expired server certificate, are told apart', async () => {
    const mismatch = await query((await engineer({ port: misnamed.port })).setup);
    expect(mismatch).toMatchObject({ exitCode: 6, error: { code: 'tls_name_mismatch' } });
    expect(mismatch.error.message).toContain(`does not name ${HOST}`);
    expect(mismatch.error.hint).toContain('services.acme-prod.clickhouse.url');
    const old = await query((await engineer({ port: expired.port })).setup);
    expect(old).toMatchObject({ exitCode: 6, error: { code: 'tls_server_expired' } });
    expect(old.error.message).toContain('has expired');
  });

  it('the server refusing OUR certificate (TLS alert) is exit 4, with the step that fixes it', async () => {
    // Given servers that answer the handshake with "unknown CA" (48) and "certificate revoked" (44)
    const unknownCa = await engineer({ port: alerts[48]!.port });
    const revoked = await engineer({ port: alerts[44]!.port });
    const [first, second] = [await query(unknownCa.setup), await query(revoked.setup)];
    // Then both are refusals of our certificate, each with its own next step
    expect(first).toMatchObject({ exitCode: 4, error: { code: 'certificate_refused' } });
    expect(first.error.message).toContain('refused your certificate (TLS alert 48: unknown CA)');
    expect(first.error.hint).toContain(`byoc access operator-config ${unknownCa.requestId}`);
    expect(second).toMatchObject({ exitCode: 4, error: { code: 'certificate_refused' } });
    expect(second.error.message).toContain('TLS alert 44: certificate revoked');
    expect(second.error.hint).toContain('byoc access request acme-prod');
  });

  it("nginx's certificate pages and the sandbox's 403 are refusals (exit 4); its 502 page is a remote failure (exit 5)", async () => {
    const noCertificate = await query((await engineer({ port: pages.noCertificate!.port })).setup);
    expect(noCertificate).toMatchObject({ exitCode: 4, error: { code: 'certificate_missing' } });
    expect(noCertificate.error.message).toContain('No required SSL certificate was sent');
    expect(noCertificate.error.hint).toContain('byoc cert get acme-prod');

    const { setup, requestId } = await engineer({ port: pages.certificateError!.port });
    const certificateError = await query(setup);
    expect(certificateError).toMatchObject({ exitCode: 4, error: { code: 'certificate_refused' } });
    expect(certificateError.error.message).toContain('The SSL certificate error');
    expect(certificateError.error.hint).toContain(`byoc access operator-config ${requestId}`);

    const forbidden = await query((await engineer({ port: pages.sandbox403!.port })).setup);
    expect(forbidden).toMatchObject({ exitCode: 4, error: { code: 'endpoint_refused' } });
    expect(forbidden.error.message).toContain('HTTP 403 Forbidden (byoc sandbox: no approved access for this certificate)');

    const gateway = await query((await engineer({ port: pages.badGateway!.port })).setup);
    expect(gateway).toMatchObject({ exitCode: 5, error: { code: 'gateway_error' } });
    expect(gateway.error.message).toContain('HTTP 502 Bad Gateway');
    expect(gateway.error.message).toContain('nginx/1.27.0');
  });
});

describe('the doctor and query agree on the diagnosis', () => {
  it('a refusing proxy: the TCP step names the 403 and the ClickHouse step says what query says', async () => {
    // Given the 403 proxy
    const proxy = proxies.connect403 as FakeConnectProxy;
    const { setup } = await engineer({ port: good.port, proxy: `http://127.0.0.1:${proxy.port}` });
    // When both run
    const fromQuery = await query(setup);
    const fromDoctor = await doctor(setup);
    // Then the doctor fails with the same exit code, its TCP step names the refusal and gives the same hint,
    expect(fromDoctor.exitCode).toBe(fromQuery.exitCode);
    expect(fromDoctor.step('tcp')).toMatchObject({ status: 'FAIL', kind: 'network', next: fromQuery.error.hint });
    expect(fromDoctor.step('tcp').evidence).toContain('answered 403 Forbidden to CONNECT');
    // and its ClickHouse step reports exactly what query reported
    expect(fromDoctor.step('clickhouse')).toMatchObject({ status: 'FAIL', kind: 'network', evidence: fromQuery.error.message, next: fromQuery.error.hint });
  });

  it('an untrusted server CA: the TLS step and query give the same hint', async () => {
    const { setup } = await engineer({ port: untrusted.port });
    const fromQuery = await query(setup);
    const fromDoctor = await doctor(setup);
    expect(fromDoctor.exitCode).toBe(6);
    expect(fromDoctor.step('tls')).toMatchObject({ status: 'FAIL', kind: 'network', next: fromQuery.error.hint });
    expect(fromDoctor.step('clickhouse')).toMatchObject({ status: 'FAIL', evidence: fromQuery.error.message, next: fromQuery.error.hint });
  });

  it("nginx refusing the certificate: the path passes and the ClickHouse step fails as query does (exit 4)", async () => {
    const { setup } = await engineer({ port: pages.certificateError!.port });
    const fromQuery = await query(setup);
    const fromDoctor = await doctor(setup);
    expect(fromDoctor.step('tls').status).toBe('PASS');
    expect(fromDoctor.step('clickhouse')).toMatchObject({ status: 'FAIL', kind: 'not-allowed', evidence: fromQuery.error.message, next: fromQuery.error.hint });
    expect(fromDoctor.exitCode).toBe(4);
  });
});

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { statSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../../src/access/open.js';
import { serverUserFor } from '../../../../src/access/server-user.js';
import { settingsCatalog } from '../../../../commands/index.js';
import { startFakeClickHouse, type FakeClickHouse } from '../../../fakes/clickhouse-server.js';
import { FakeClock, runCli } from '../../../fakes/context.js';
import { openTestBroker, testBrokerCa, testServerKeys } from '../../../fakes/broker.js';
import { tempDir } from '../../../fakes/fs.js';

const HOST = 'ch.acme.example';
let server: FakeClickHouse;
let serverKeys: { certPem: string; keyPem: string };

beforeAll(async () => {
  const ca = await testBrokerCa();
  serverKeys = await testServerKeys([HOST, '127.0.0.1']);
  server = await startFakeClickHouse({ ...serverKeys, clientCa: ca.certPem, answer: () => ({ names: ['version()'], types: ['String'], rows: [['24.8.1']] }) });
});
afterAll(() => server.close());

/** alice with an approved request for acme-prod, whose ClickHouse `config` describes (YAML after `services: acme-prod:`). */
async function engineer(config: (port: number) => string = (port) => `network:\n  resolve: { ${HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${HOST}:${port}", caFile: ./ca.pem }\n`, approved = true) {
  const stateDir = tempDir();
  const clock = new FakeClock(new Date());
  const { broker } = await openTestBroker(stateDir, clock);
  const request = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'merges stuck', duration: '2h' });
  if (approved) await broker.approve('bob@vendor.example', request.id);
  const cwd = tempDir({ 'ca.pem': (await testBrokerCa()).certPem });
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), config(server.port));
  const setup = { cwd, clock, env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) } };
  return { setup, requestId: request.id, cwd, stateDir };
}

/** An outside program, run without blocking this process (the servers it talks to live here). */
function outside(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 15_000 }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}

describe('byoc cert env', () => {
  it('prints shell exports that a POSIX shell evaluates to the certificate, key, server CA, user and resolve override', async () => {
    // Given alice with an approved grant
    const { setup, requestId, cwd, stateDir } = await engineer();
    // When she asks for the environment
    const result = await runCli(['cert', 'env', 'acme-prod'], setup);
    expect(result.exitCode, result.stderr).toBe(0);
    // Then a real shell evaluates it to the values byoc itself would use
    const evaluated = execFileSync('sh', ['-c', `eval "$1"; printf '%s\\n' "$BYOC_CLICKHOUSE_URL" "$BYOC_CLICKHOUSE_USER" "$BYOC_CERT_FILE" "$BYOC_KEY_FILE" "$BYOC_SERVER_CA_FILE" "$BYOC_RESOLVE" "$BYOC_GRANT_REQUEST"`, 'sh', result.stdout], { encoding: 'utf8' });
    const dir = path.join(stateDir, 'certs/alice_40vendor_2eexample/acme-prod');
    expect(evaluated.split('\n').slice(0, 7)).toEqual([
      `https://${HOST}:${server.port}`,
      serverUserFor(requestId, 'alice@vendor.example'),
      path.join(dir, 'cert.pem'),
      path.join(dir, 'key.pem'),
      path.join(cwd, 'ca.pem'),
      `${HOST}:${server.port}:127.0.0.1`,
      requestId,
    ]);
    // And the first line says which grant and until when
    expect(result.stdout.split('\n')[0]).toMatch(new RegExp(`^# acme-prod: request ${requestId}, certificate valid until \\d{4}-`));
  });

  it('exports no variable byoc itself reads (a shell that evaluated it keeps running byoc as before)', async () => {
    const { setup } = await engineer();
    const result = await runCli(['cert', 'env', 'acme-prod'], setup);
    const exported = [...result.stdout.matchAll(/^export ([A-Z_]+)=/gm)].map((match) => match[1]!);
    const byocVariables = new Set((await settingsCatalog.all()).map((setting) => setting.env).filter(Boolean));
    expect(exported.length).toBeGreaterThan(5);
    expect(exported.filter((name) => byocVariables.has(name))).toEqual([]);
  });

  it('gives curl flags that a real curl uses to query the service over mutual TLS as the grant', async () => {
    // Given alice's grant and a ClickHouse that requires a client certificate from the broker's CA
    const { setup, requestId } = await engineer();
    const flags = await runCli(['cert', 'env', 'acme-prod', '--format', 'curl'], setup);
    expect(flags.exitCode, flags.stderr).toBe(0);
    expect(flags.stdout).toContain(`--resolve ${HOST}:${server.port}:127.0.0.1`);
    const before = server.queries.length;
    // When curl runs with them, as the README shows (word-split by the shell, no eval)
    const curl = await outside('sh', ['-c', `curl -sS --fail-with-body $1 --data-binary 'SELECT version()'`, 'sh', flags.stdout.trim()]);
    // Then the server answered, and saw alice's certificate and the grant's user
    expect(curl.stderr).toBe('');
    expect(curl.stdout).toContain('24.8.1');
    const [sent] = server.queries.slice(before);
    expect(sent).toMatchObject({ commonName: 'alice@vendor.example', user: serverUserFor(requestId, 'alice@vendor.example'), certificateAuth: 'on', sql: 'SELECT version()' });
  });

  it('through a configured HTTP proxy, names the proxy and keeps the override with --connect-to; a socks5h proxy becomes socks5 so the override wins', async () => {
    const http = await engineer((port) => `network:\n  proxy: http://127.0.0.1:1055\n  resolve: { ${HOST}: 100.64.0.7 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${HOST}:${port}" }\n`);
    const viaHttp = (await runCli(['cert', 'env', 'acme-prod', '--format', 'curl'], http.setup)).stdout;
    expect(viaHttp, (await runCli(['cert', 'env', 'acme-prod', '--format', 'curl'], http.setup)).stderr).toContain(`--proxy http://127.0.0.1:1055/ --connect-to ${HOST}:${server.port}:100.64.0.7:${server.port} `);
    expect(viaHttp).not.toContain('--resolve');
    // no server CA configured: the system's roots, so no --cacert
    expect(viaHttp).not.toContain('--cacert');
    const socks = await engineer((port) => `network:\n  proxy: socks5h://127.0.0.1:1055\n  resolve: { ${HOST}: 100.64.0.7 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${HOST}:${port}" }\n`);
    expect((await runCli(['cert', 'env', 'acme-prod', '--format', 'curl'], socks.setup)).stdout).toContain('--proxy socks5://127.0.0.1:1055 --connect-to');
  });

  it('never prints a proxy password, and says it left it out', async () => {
    const { setup } = await engineer((port) => `network:\n  proxy: http://ops:s3cret@127.0.0.1:1055\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${HOST}:${port}" }\n`);
    const result = await runCli(['cert', 'env', 'acme-prod', '--format', 'curl'], setup);
    expect(result.stdout).not.toContain('s3cret');
    expect(result.stdout).toContain("--proxy 'http://ops:***@127.0.0.1:1055/'");
    expect(result.stderr).toContain('network.proxy holds a password');
  });

  it('writes a clickhouse-client config 0600 on request, which the real clickhouse-client uses for mutual TLS with strict verification', async (context) => {
    const hasClient = spawnSync('clickhouse-client', ['--version']).status === 0;
    if (!hasClient && process.env.CI !== 'true') return context.skip();
    // Given a native TLS endpoint that requires a certificate from the broker's CA (the handshake is what the config decides)
    const ca = await testBrokerCa();
    const seen: string[] = [];
    const native = tls.createServer({ key: serverKeys.keyPem, cert: serverKeys.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (socket) => {
      seen.push(`${String(socket.getPeerCertificate().subject?.CN)} authorized=${socket.authorized}`);
      socket.end();
    });
    await new Promise<void>((resolve) => native.listen(0, '127.0.0.1', resolve));
    const nativePort = (native.address() as AddressInfo).port;
    try {
      const { setup, requestId, cwd } = await engineer((port) => `services:\n  acme-prod:\n    clickhouse: { url: "https://127.0.0.1:${port}", caFile: ./ca.pem, nativePort: ${nativePort} }\n`);
      // When alice writes the config to a file
      const written = await runCli(['cert', 'env', 'acme-prod', '--format', 'clickhouse-client', '--out', 'acme.xml'], setup);
      expect(written.exitCode, written.stderr).toBe(0);
      const file = path.join(cwd, 'acme.xml');
      expect(written.stdout).toBe(`wrote ${file} (0600; request ${requestId}, valid until ${/valid until (\S+)\)/.exec(written.stdout)![1]})\nuse: clickhouse-client --config-file ${file}\n`);
      // Then only she can read it, and it names the grant's user and the native port
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const xml = readFileSync(file, 'utf8');
      expect(xml).toContain(`<user>${serverUserFor(requestId, 'alice@vendor.example')}</user>`);
      expect(xml).toContain(`<port>${nativePort}</port>`);
      // And the real clickhouse-client presents her certificate and checks the server's against the configured CA
      const run = await outside('clickhouse-client', ['--config-file', file, '--query', 'SELECT 1']);
      expect(run.code).not.toBe(0); // the endpoint speaks TLS only, not ClickHouse's protocol
      expect(seen, run.stderr + run.stdout).toEqual(["alice@vendor.example authorized=true"]);
      expect(run.stderr).not.toContain('certificate verify failed');
      // And with another CA in the config, clickhouse-client refuses the server (strict verification)
      const other = tempDir();
      const { createCa } = await import('../../../../src/pki/ca.js');
      writeFileSync(path.join(other, 'other.pem'), (await createCa(new Date())).ca.certPem);
      writeFileSync(path.join(other, 'bad.xml'), xml.replace(path.join(cwd, 'ca.pem'), path.join(other, 'other.pem')));
      const refused = await outside('clickhouse-client', ['--config-file', path.join(other, 'bad.xml'), '--query', 'SELECT 1']);
      expect(refused.stderr).toContain('certificate verify failed');
      expect(seen).toHaveLength(1);
    } finally {
      native.close();
    }
  });

  it('--json has every value the other formats are made of', async () => {
    const { setup, requestId, cwd } = await engineer();
    const result = await runCli(['cert', 'env', 'acme-prod', '--json'], setup);
    expect(result.exitCode).toBe(0);
    const document = JSON.parse(result.stdout);
    expect(document).toMatchObject({
      service: 'acme-prod',
      requestId,
      url: `https://${HOST}:${server.port}`,
      user: serverUserFor(requestId, 'alice@vendor.example'),
      serverCaFile: path.join(cwd, 'ca.pem'),
      resolve: { host: HOST, port: server.port, address: '127.0.0.1' },
      proxy: null,
      headers: { 'X-ClickHouse-User': serverUserFor(requestId, 'alice@vendor.example'), 'X-ClickHouse-SSL-Certificate-Auth': 'on' },
      native: { host: HOST, port: 9440 },
    });
    expect((await runCli(['cert', 'env', 'acme-prod', '--format', 'json'], setup)).stdout).toBe(`${JSON.stringify(document, null, 2)}\n`);
  });

  it('without an approved grant, refuses with exit 4 and says what to do', async () => {
    const { setup } = await engineer(undefined, false);
    const result = await runCli(['cert', 'env', 'acme-prod'], setup);
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('still pending approval');
    expect(result.stderr).toContain('byoc access wait');
  });
});

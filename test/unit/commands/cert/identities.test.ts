import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { issueServerCertificate } from '../../../../src/pki/ca.js';
import { generateKeyPairPem } from '../../../../src/pki/x509.js';
import { startFakeClickHouse, type FakeClickHouse } from '../../../fakes/clickhouse-server.js';
import { FakeClock, runCli } from '../../../fakes/context.js';
import { testBrokerCa } from '../../../fakes/broker.js';
import { tempDir } from '../../../fakes/fs.js';

const HOST = 'ch.acme.example';
const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
let servers: FakeClickHouse[] = [];
afterEach(async () => {
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
});

const config = (port: number) => `policy:
  approvers: [carol@vendor.example]
network:
  resolve: { ${HOST}: 127.0.0.1 }
services:
  acme-prod:
    clickhouse: { url: "https://${HOST}:${port}", caFile: ./server-ca.pem }
`;

/**
 * One machine, one state folder, the real embedded broker: identities differ only by BYOC_USER, as when two
 * engineers share a jump host. alice is approved and holds a certificate for acme-prod; bob has no request.
 * The ClickHouse requires a client certificate from the broker's own CA (created in the state folder).
 */
async function sharedMachine() {
  const cwd = tempDir({ 'server-ca.pem': (await testBrokerCa()).certPem });
  const stateDir = path.join(cwd, 'state');
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), config(1));
  // certificates are checked by a real TLS server against real time
  const clock = new FakeClock(new Date());
  const as = (user: string, args: string[]) => runCli(args, { cwd, clock, env: { BYOC_USER: user, BYOC_STATE_DIR: stateDir } });
  const request = JSON.parse((await as(ALICE, ['access', 'request', 'acme-prod', '--reason', 'merges', '--no-wait', '--json'])).stdout);
  expect((await as('carol@vendor.example', ['access', 'approve', request.id])).exitCode).toBe(0);
  const got = await as(ALICE, ['cert', 'get', 'acme-prod', '--json']);
  expect(got.exitCode).toBe(0);
  const cert = JSON.parse(got.stdout);
  const keys = await generateKeyPairPem();
  const serverCert = issueServerCertificate(await testBrokerCa(), { publicKeyPem: keys.publicKeyPem, names: [HOST], notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 86_400_000) });
  const server = await startFakeClickHouse({
    certPem: serverCert,
    keyPem: keys.privateKeyPem,
    clientCa: readFileSync(cert.caPath, 'utf8'),
    answer: () => ({ names: ['x'], types: ['UInt8'], rows: [['1']] }),
  });
  servers.push(server);
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), config(server.port));
  return { as, stateDir, server, cert, aliceKey: readFileSync(cert.keyPath, 'utf8'), requestId: request.id as string };
}

/** Every file under the folder with its bytes. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => [path.relative(dir, path.join(entry.parentPath, entry.name)), readFileSync(path.join(entry.parentPath, entry.name), 'utf8')]),
  );
}

describe("two identities on one machine: certificates are the current identity's only", () => {
  it("bob's query, kube-credential, cert show and cert list never see or use alice's key", async () => {
    // Given alice's certificate on disk, in her own folder
    const { as, stateDir, server, cert, aliceKey } = await sharedMachine();
    expect(cert.keyPath).toBe(path.join(stateDir, 'certs', 'alice_40vendor_2eexample', 'acme-prod', 'key.pem'));
    const keyBody = aliceKey.split('\n')[1]!;
    const before = snapshot(path.join(stateDir, 'certs'));
    const queriesBefore = server.queries.length;

    // When bob runs each command that uses a certificate
    const query = await as(BOB, ['query', 'acme-prod', 'SELECT 1 AS x FROM system.one']);
    const credential = await as(BOB, ['kube-credential', 'acme-prod']);
    const shown = await as(BOB, ['cert', 'show', 'acme-prod', '--json']);
    const listed = await as(BOB, ['cert', 'list', '--json']);

    // Then each refuses him (exit 4, no access) or lists nothing, with his own name
    expect(query.exitCode).toBe(4);
    expect(query.stderr).toContain(`you (${BOB}) have no approved access to acme-prod`);
    expect(credential.exitCode).toBe(4);
    expect(credential.stdout).toBe('');
    expect(shown.exitCode).toBe(4);
    expect(JSON.parse(shown.stderr).error.code).toBe('no_access');
    expect(listed.exitCode).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({ identity: BOB, certificates: [] });
    // And alice's key (or its path) appears in nothing he got
    for (const result of [query, credential, shown, listed]) {
      expect(result.stdout + result.stderr).not.toContain(keyBody);
      expect(result.stdout + result.stderr).not.toContain(cert.keyPath);
    }
    // And nothing reached ClickHouse, and nothing on disk changed: no folder for bob, alice's files as they were
    expect(server.queries.length).toBe(queriesBefore);
    expect(snapshot(path.join(stateDir, 'certs'))).toEqual(before);
    expect(existsSync(path.join(stateDir, 'certs', 'bob_40vendor_2eexample'))).toBe(false);

    // And alice's own commands still work with her key
    const aliceQuery = await as(ALICE, ['query', 'acme-prod', 'SELECT 1 AS x FROM system.one']);
    expect(aliceQuery).toMatchObject({ exitCode: 0, stdout: 'x\n1\n' });
    expect(server.queries.at(-1)!.commonName).toBe(ALICE);
    expect(JSON.parse((await as(ALICE, ['kube-credential', 'acme-prod'])).stdout).status.clientKeyData).toBe(aliceKey);
    expect((await as(ALICE, ['cert', 'show', 'acme-prod'])).exitCode).toBe(0);
  }, 30_000);

  it('once bob is approved too, he gets his own key and certificate, and his queries go out as him', async () => {
    // Given alice's certificate, and bob approved for acme-prod as well
    const { as, stateDir, server, aliceKey } = await sharedMachine();
    const request = JSON.parse((await as(BOB, ['access', 'request', 'acme-prod', '--reason', 'pairing', '--no-wait', '--json'])).stdout);
    expect((await as('carol@vendor.example', ['access', 'approve', request.id])).exitCode).toBe(0);
    // When bob queries and asks kubectl's plugin for his credential
    expect((await as(BOB, ['query', 'acme-prod', 'SELECT 1 AS x FROM system.one'])).exitCode).toBe(0);
    const credential = JSON.parse((await as(BOB, ['kube-credential', 'acme-prod'])).stdout);
    // Then the server saw bob's certificate, and bob's key is his own, stored in his folder
    expect(server.queries.at(-1)!.commonName).toBe(BOB);
    const bobKey = readFileSync(path.join(stateDir, 'certs', 'bob_40vendor_2eexample', 'acme-prod', 'key.pem'), 'utf8');
    expect(credential.status.clientKeyData).toBe(bobKey);
    expect(bobKey).not.toBe(aliceKey);
    // And alice's is untouched
    expect(readFileSync(path.join(stateDir, 'certs', 'alice_40vendor_2eexample', 'acme-prod', 'key.pem'), 'utf8')).toBe(aliceKey);
  }, 30_000);
});

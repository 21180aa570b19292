import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { issueServerCertificate } from '../../src/pki/ca.js';
import { generateKeyPairPem } from '../../src/pki/x509.js';
import { testBrokerCa } from '../fakes/broker.js';
import { startFakeClickHouse } from '../fakes/clickhouse-server.js';
import { tempDir } from '../fakes/fs.js';
import { BYOC_BIN, byoc } from './helpers.js';

const CONFIG = `services:
  acme-prod:
    clickhouse: { url: "https://ch.acme.example:8443" }
policy:
  approvers: [bob@vendor.example, carol@vendor.example]
  maxDuration: 4h
`;

function workspace() {
  const cwd = tempDir({ 'byoc.config.yaml': CONFIG });
  const stateDir = path.join(cwd, 'state');
  const as = (user: string, args: string[]) => byoc(args, { cwd, env: { BYOC_USER: user, BYOC_STATE_DIR: stateDir } });
  return { cwd, stateDir, as };
}

describe('access and certificates end to end (embedded broker, identities switched with BYOC_USER)', () => {
  it('walks request > refusals > approval > certificate, with the documented exit codes', async () => {
    const { as, stateDir } = workspace();
    // Given alice asks for access without waiting
    const requested = await as('alice@vendor.example', ['access', 'request', 'acme-prod', '--reason', 'merges stuck', '--ticket', 'INC-42', '--duration', '2h', '--json']);
    // Then she gets the pending request and exit 8
    expect(requested.exitCode).toBe(8);
    const request = JSON.parse(requested.stdout);
    expect(request).toMatchObject({ status: 'pending', service: 'acme-prod', requester: 'alice@vendor.example', reason: 'merges stuck', ticket: 'INC-42', duration: '2h' });
    expect(JSON.parse(requested.stderr).error.code).toBe('request_pending');

    // When she tries to approve it herself, Then exit 4 with the reason; when dave (no part in it) does, the
    // request does not exist for him (exit 2), so he learns nothing of it
    const self = await as('alice@vendor.example', ['access', 'approve', request.id]);
    expect(self.exitCode).toBe(4);
    expect(self.stderr).toContain('cannot approve it');
    const stranger = await as('dave@vendor.example', ['access', 'approve', request.id]);
    expect(stranger.exitCode).toBe(2);
    expect(stranger.stderr).toContain(`no access request ${request.id}`);
    // And a certificate is refused while pending, with the next step
    const early = await as('alice@vendor.example', ['cert', 'get', 'acme-prod']);
    expect(early.exitCode).toBe(4);
    expect(early.stderr).toContain(`byoc access wait ${request.id}`);
    // And asking beyond the maximum is refused naming it
    const tooLong = await as('alice@vendor.example', ['access', 'request', 'acme-prod', '--reason', 'x', '--duration', '9h']);
    expect(tooLong.exitCode).toBe(4);
    expect(tooLong.stderr).toContain('maximum of 4h');

    // When bob approves, Then exit 0 and the request is approved
    const approved = await as('bob@vendor.example', ['access', 'approve', request.id, '--comment', 'ok', '--json']);
    expect(approved.exitCode).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ status: 'approved', reviews: [{ reviewer: 'bob@vendor.example', decision: 'approve', comment: 'ok' }] });
    expect((await as('alice@vendor.example', ['access', 'wait', request.id, '--json'])).exitCode).toBe(0);

    // When alice gets her certificate
    const got = await as('alice@vendor.example', ['cert', 'get', 'acme-prod', '--json']);
    expect(got.exitCode).toBe(0);
    const cert = JSON.parse(got.stdout);
    expect(cert).toMatchObject({ requestId: request.id, subject: `CN=alice@vendor.example, OU=urn:byoc:request:${request.id}`, certPath: `${stateDir}/certs/alice_40vendor_2eexample/acme-prod/cert.pem` });
    // Then the real openssl verifies it against the broker CA, with clientAuth and the grant's end
    expect(execFileSync('openssl', ['verify', '-CAfile', cert.caPath, cert.certPath], { encoding: 'utf8' })).toContain(': OK');
    const details = execFileSync('openssl', ['x509', '-in', cert.certPath, '-noout', '-dates', '-ext', 'extendedKeyUsage,subjectAltName'], { encoding: 'utf8' });
    expect(details).toContain('TLS Web Client Authentication');
    expect(details).toContain(`URI:urn:byoc:request:${request.id}`);
    const notAfter = /notAfter=(.+)/.exec(details)![1]!;
    expect(Math.abs(new Date(notAfter).getTime() - Date.parse(cert.notAfter))).toBeLessThan(1000);
    // And the key is private
    expect(statSync(cert.keyPath).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(cert.keyPath)).mode & 0o777).toBe(0o700);
    // And cert show guards runbooks on remaining time
    expect((await as('alice@vendor.example', ['cert', 'show', 'acme-prod', '--min-remaining', '15m'])).exitCode).toBe(0);
    expect((await as('alice@vendor.example', ['cert', 'show', 'acme-prod', '--min-remaining', '3h'])).exitCode).toBe(4);

    // When carol revokes it, Then the operator step becomes the removal of that request's user and the revocation shows
    expect((await as('carol@vendor.example', ['access', 'revoke', request.id])).exitCode).toBe(0);
    // And cert show asks the broker: exit 4 naming who revoked it, though the file has hours left
    const shown = await as('alice@vendor.example', ['cert', 'show', 'acme-prod', '--min-remaining', '15m']);
    expect(shown.exitCode).toBe(4);
    expect(shown.stderr).toContain(`your access to acme-prod (${request.id}) was revoked by carol@vendor.example`);
    const removal = await as('bob@vendor.example', ['access', 'operator-config', request.id]);
    expect(removal.exitCode).toBe(0);
    expect(removal.stdout).toMatch(new RegExp(`^DROP USER IF EXISTS byoc_r_${request.id.slice(2)}_alice_40vendor_2eexample;$`, 'm'));
    const listed = await as('bob@vendor.example', ['access', 'list', '--status', 'revoked']);
    expect(listed.stdout).toMatch(new RegExp(`^${request.id}\\trevoked\\tacme-prod\\talice@vendor.example`, 'm'));
  }, 60_000);

  it('denial is final and exits 4 for the requester waiting on it', async () => {
    const { as } = workspace();
    const request = JSON.parse((await as('alice@vendor.example', ['access', 'request', 'acme-prod', '--reason', 'x', '--json'])).stdout);
    expect((await as('bob@vendor.example', ['access', 'deny', request.id])).exitCode).toBe(2);
    expect((await as('bob@vendor.example', ['access', 'deny', request.id, '--comment', 'use the runbook'])).exitCode).toBe(0);
    const waited = await as('alice@vendor.example', ['access', 'wait', request.id]);
    expect(waited.exitCode).toBe(4);
    expect(waited.stderr).toContain('denied by bob@vendor.example: use the runbook');
  });

  it('without an identity, says how to set one (exit 3)', async () => {
    const { cwd, stateDir } = workspace();
    const result = await byoc(['access', 'list'], { cwd, env: { BYOC_STATE_DIR: stateDir } });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('BYOC_USER');
  });
});

describe('two identities on one state folder (BYOC_USER differs), from outside', () => {
  it("bob's kube-credential, cert show and cert list never hand out alice's key; cert get reuses, --renew renews", async () => {
    // Given alice approved with a certificate for acme-prod, bob without a request, one state folder
    const { as, stateDir, cwd } = workspace();
    const request = JSON.parse((await as('alice@vendor.example', ['access', 'request', 'acme-prod', '--reason', 'x', '--no-wait', '--json'])).stdout);
    expect((await as('bob@vendor.example', ['access', 'approve', request.id])).exitCode).toBe(0);
    const got = JSON.parse((await as('alice@vendor.example', ['cert', 'get', 'acme-prod', '--json'])).stdout);
    const aliceKey = readFileSync(path.join(stateDir, 'certs', 'alice_40vendor_2eexample', 'acme-prod', 'key.pem'), 'utf8');
    expect(got.keyPath).toBe(path.join(stateDir, 'certs', 'alice_40vendor_2eexample', 'acme-prod', 'key.pem'));

    // When bob runs what kubectl would, and the cert commands
    const credential = await as('bob@vendor.example', ['kube-credential', 'acme-prod']);
    const shown = await as('bob@vendor.example', ['cert', 'show', 'acme-prod']);
    const listed = await as('bob@vendor.example', ['cert', 'list', '--json']);
    // Then exit 4 with one line naming him, and alice's key is in none of it
    expect(credential.exitCode).toBe(4);
    expect(credential.stdout).toBe('');
    expect(credential.stderr).toBe('error: byoc: you (bob@vendor.example) have no approved access to acme-prod. Request it, then retry: byoc access request acme-prod --reason "..."\n');
    expect(shown.exitCode).toBe(4);
    expect(JSON.parse(listed.stdout)).toEqual({ identity: 'bob@vendor.example', certificates: [] });
    for (const result of [credential, shown, listed]) expect(result.stdout + result.stderr).not.toContain(aliceKey.split('\n')[1]);

    // And alice's plugin output is exactly her key on disk
    const mine = await as('alice@vendor.example', ['kube-credential', 'acme-prod']);
    expect(JSON.parse(mine.stdout).status.clientKeyData).toBe(aliceKey);

    // When both query a ClickHouse that requires a certificate from the broker's CA (mutual TLS on loopback)
    const keys = await generateKeyPairPem();
    const server = await startFakeClickHouse({
      certPem: issueServerCertificate(await testBrokerCa(), { publicKeyPem: keys.publicKeyPem, names: ['ch.acme.example'], notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 86_400_000) }),
      keyPem: keys.privateKeyPem,
      clientCa: readFileSync(got.caPath, 'utf8'),
      answer: () => ({ names: ['x'], types: ['UInt8'], rows: [['1']] }),
    });
    try {
      writeFileSync(path.join(cwd, 'server-ca.pem'), (await testBrokerCa()).certPem);
      writeFileSync(
        path.join(cwd, 'byoc.config.yaml'),
        CONFIG.replace('clickhouse: { url: "https://ch.acme.example:8443" }', `clickhouse: { url: "https://ch.acme.example:${server.port}", caFile: ./server-ca.pem }`) +
          'network:\n  resolve: { ch.acme.example: 127.0.0.1 }\n',
      );
      const bobQuery = await as('bob@vendor.example', ['query', 'acme-prod', 'SELECT 1 AS x FROM system.one']);
      const aliceQuery = await as('alice@vendor.example', ['query', 'acme-prod', 'SELECT 1 AS x FROM system.one']);
      // Then bob is refused before anything is sent, and alice's query goes out with her certificate
      expect(bobQuery.exitCode).toBe(4);
      expect(bobQuery.stderr).toContain('you (bob@vendor.example) have no approved access to acme-prod');
      expect(aliceQuery).toMatchObject({ exitCode: 0, stdout: 'x\n1\n' });
      expect(server.queries.map((query) => query.commonName)).toEqual(['alice@vendor.example']);
    } finally {
      await server.close();
    }
    // And cert get reuses her certificate (same serial), while --renew issues a new one
    const again = JSON.parse((await as('alice@vendor.example', ['cert', 'get', 'acme-prod', '--json'])).stdout);
    expect(again).toMatchObject({ serial: got.serial, reused: true });
    const renewed = JSON.parse((await as('alice@vendor.example', ['cert', 'get', 'acme-prod', '--renew', '--json'])).stdout);
    expect(renewed.reused).toBe(false);
    expect(renewed.serial).not.toBe(got.serial);
    expect(execFileSync('openssl', ['x509', '-in', renewed.certPath, '-noout', '-serial'], { encoding: 'utf8' }).trim().toLowerCase()).toBe(`serial=${renewed.serial}`);
  }, 60_000);
});

describe('served broker end to end', () => {
  it('serves the API over loopback; the CLI authenticates with BYOC_TOKEN', async () => {
    const { cwd, stateDir } = workspace();
    const env = { PATH: process.env.PATH!, HOME: '/nonexistent-home', BYOC_STATE_DIR: stateDir };
    const token = async (user: string) => (await byoc(['broker', 'token', 'create', user], { cwd, env: { BYOC_STATE_DIR: stateDir } })).stdout.trim();
    const aliceToken = await token('alice@vendor.example');
    const bobToken = await token('bob@vendor.example');
    expect(aliceToken).toMatch(/^byoc_[A-Za-z0-9_-]{43}$/);
    const server = execa(process.execPath, [BYOC_BIN, 'broker', 'serve', '--listen', '127.0.0.1:0'], { cwd, env, extendEnv: false, reject: false });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let seen = '';
        server.stderr.on('data', (chunk: Buffer) => {
          seen += chunk.toString();
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
          if (match) resolve(match[1]!);
        });
        server.once('exit', () => reject(new Error(`broker exited: ${seen}`)));
      });
      // The client side has its own state folder: nothing is shared but the URL and the token.
      const clientState = path.join(tempDir(), 'client-state');
      writeFileSync(path.join(cwd, 'client.yaml'), `broker: { url: "${url}" }\n`);
      const client = (tokenValue: string | undefined, args: string[]) =>
        byoc(['--config', 'client.yaml', ...args], { cwd, env: { BYOC_STATE_DIR: clientState, ...(tokenValue ? { BYOC_TOKEN: tokenValue } : {}) } });
      const unauthenticated = await client(undefined, ['access', 'list']);
      expect(unauthenticated.exitCode).toBe(4);
      expect(unauthenticated.stderr).toContain('BYOC_TOKEN');
      expect((await client('byoc_wrong', ['access', 'list'])).exitCode).toBe(4);
      const request = JSON.parse((await client(aliceToken, ['access', 'request', 'acme-prod', '--reason', 'served', '--no-wait', '--json'])).stdout);
      expect(request.requester).toBe('alice@vendor.example');
      expect((await client(aliceToken, ['access', 'approve', request.id])).exitCode).toBe(4);
      expect((await client(bobToken, ['access', 'approve', request.id])).exitCode).toBe(0);
      const cert = await client(aliceToken, ['cert', 'get', 'acme-prod', '--json']);
      expect(cert.exitCode).toBe(0);
      expect(JSON.parse(cert.stdout).certPath).toBe(`${clientState}/certs/alice_40vendor_2eexample/acme-prod/cert.pem`);
      // The identity is the token's, as the broker says: bob's token on the same client state sees none of alice's
      const bobList = await client(bobToken, ['cert', 'list', '--json']);
      expect(JSON.parse(bobList.stdout)).toEqual({ identity: 'bob@vendor.example', certificates: [] });
      const bobShow = await client(bobToken, ['cert', 'show', 'acme-prod']);
      expect(bobShow.exitCode).toBe(4);
      expect(bobShow.stdout).toBe('');
      expect((await client(aliceToken, ['cert', 'show', 'acme-prod'])).exitCode).toBe(0);
      // While it serves, the store is its own: an embedded write on its state folder fails at once (exit 3) naming
      // the serving process and its URL, where waiting for the lock would only time out; embedded reads still work
      const started = Date.now();
      const embeddedWrite = await byoc(['broker', 'token', 'create', 'carol@vendor.example'], { cwd, env: { BYOC_STATE_DIR: stateDir } });
      expect(embeddedWrite.exitCode).toBe(3);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(embeddedWrite.stderr).toContain(`(process ${server.pid}, serving ${url})`);
      expect(embeddedWrite.stderr).toContain(`set broker.url to ${url}`);
      const embeddedRead = await byoc(['access', 'show', request.id, '--json'], { cwd, env: { BYOC_STATE_DIR: stateDir, BYOC_USER: 'alice@vendor.example' } });
      expect(JSON.parse(embeddedRead.stdout)).toMatchObject({ id: request.id, status: 'approved' });
    } finally {
      server.kill('SIGINT');
      await server;
    }
    expect((await server).stderr).not.toContain('error');
    // Stopped, it gave the store back: an embedded write works again at once
    expect((await byoc(['broker', 'token', 'create', 'carol@vendor.example'], { cwd, env: { BYOC_STATE_DIR: stateDir } })).exitCode).toBe(0);
  }, 60_000);
});

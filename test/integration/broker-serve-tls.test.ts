import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../fakes/fs.js';
import { byocIn, startServedBroker } from './broker-serve-served.js';

/** A private CA and a certificate it signed for 127.0.0.1 and broker.test, made by openssl (never by byoc). */
function privateCa(san = 'IP:127.0.0.1,DNS:broker.test'): { dir: string; caFile: string; certFile: string; keyFile: string; fingerprintHex: string } {
  const dir = tempDir();
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Vendor Private CA');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'broker.key', '-out', 'broker.csr', '-subj', '/CN=broker');
  run('x509', '-req', '-in', 'broker.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'broker.crt', '-days', '2', '-extfile', writeExt(dir, san));
  // "sha256 Fingerprint=AB:CD:..." (the label's case differs between OpenSSL versions)
  const fingerprintHex = run('x509', '-in', 'broker.crt', '-noout', '-fingerprint', '-sha256').trim().split('=')[1]!;
  return { dir, caFile: path.join(dir, 'ca.crt'), certFile: path.join(dir, 'broker.crt'), keyFile: path.join(dir, 'broker.key'), fingerprintHex };
}

function writeExt(dir: string, san: string): string {
  const file = path.join(dir, 'ext.cnf');
  writeFileSync(file, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
  return file;
}

/** A served broker on HTTPS with that certificate, and a client workspace of its own (its own state folder). */
async function httpsBroker(san?: string) {
  const pki = privateCa(san);
  const broker = await startServedBroker(['--tls-cert', pki.certFile, '--tls-key', pki.keyFile]);
  // broker.test is another name (another origin) for the same server, through the network layer's resolve override
  const client = { cwd: tempDir({ 'byoc.config.yaml': 'network:\n  resolve:\n    broker.test: 127.0.0.1\n' }), stateDir: tempDir() };
  const env = (extra: Record<string, string> = {}) => ({ BYOC_STATE_DIR: client.stateDir, BYOC_BROKER_URL: broker.url, BYOC_TOKEN: broker.token, ...extra });
  const list = (extra: Record<string, string> = {}) => byocIn(client.cwd, env(extra), ['access', 'list', '--json']);
  return { pki, broker, client, env, list };
}

const pinFiles = (stateDir: string) => (existsSync(path.join(stateDir, 'trust', 'brokers')) ? readdirSync(path.join(stateDir, 'trust', 'brokers')) : []);

describe('trusting a served broker with a private CA certificate', () => {
  it('without trust the CLI refuses with a TLS error naming broker.caFile and byoc broker trust; with broker.caFile it works', async () => {
    // Given an HTTPS broker whose certificate a private CA signed, and a client with only the system's roots
    const { pki, broker, list } = await httpsBroker();
    expect(broker.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // When the client calls it
    const refused = await list();
    // Then the certificate is not trusted (exit 6), and the hint names both ways to trust it
    expect(refused.exitCode).toBe(6);
    const { error } = JSON.parse(refused.stderr);
    expect(error.code).toBe('tls_untrusted');
    expect(error.hint).toContain('broker.caFile (BYOC_BROKER_CA)');
    expect(error.hint).toContain(`byoc broker trust ${broker.url} --fingerprint SHA256:`);
    expect(error.hint).not.toContain('NODE_EXTRA_CA_CERTS');
    // When the client names the private CA in BYOC_BROKER_CA
    const trusted = await list({ BYOC_BROKER_CA: pki.caFile });
    // Then the same call succeeds
    expect(trusted.exitCode, trusted.stderr).toBe(0);
    expect(JSON.parse(trusted.stdout)).toEqual({ requests: [] });
    // And the same through the configuration file's broker.caFile
    const { client } = { client: { cwd: tempDir({ 'byoc.config.yaml': `broker:\n  caFile: ${pki.caFile}\n` }) } };
    const fromFile = await byocIn(client.cwd, { BYOC_STATE_DIR: tempDir(), BYOC_BROKER_URL: broker.url, BYOC_TOKEN: broker.token }, ['access', 'list', '--json']);
    expect(fromFile.exitCode, fromFile.stderr).toBe(0);
  });

  it('broker trust with the right pin (openssl colon-hex) stores the certificate 0600 and the CLI trusts it for that URL only', async () => {
    const { pki, broker, client, env, list } = await httpsBroker();
    // Given the fingerprint the operator printed with openssl, and the same form the broker logged at start
    await expect.poll(broker.stderr).toMatch(/certificate fingerprint SHA256:[A-Za-z0-9+/]{43}/);
    // When the client pins it
    const trust = await byocIn(client.cwd, env(), ['broker', 'trust', broker.url, '--fingerprint', pki.fingerprintHex, '--json']);
    // Then it is stored, readable by this user only
    expect(trust.exitCode, trust.stderr).toBe(0);
    const stored = JSON.parse(trust.stdout);
    expect(stored).toMatchObject({ url: broker.url, fingerprintHex: pki.fingerprintHex.toUpperCase() });
    expect(statSync(stored.file).mode & 0o777).toBe(0o600);
    // And its content is the broker's certificate, as openssl reads it
    const fromOpenssl = execFileSync('openssl', ['x509', '-in', stored.file, '-noout', '-fingerprint', '-sha256']).toString().trim().split('=')[1];
    expect(fromOpenssl).toBe(pki.fingerprintHex);
    // And every later call to that broker works without broker.caFile
    const listed = await list();
    expect(listed.exitCode, listed.stderr).toBe(0);
    // But the same server under another URL (another origin) is not trusted by that pin
    const elsewhere = await byocIn(client.cwd, env({ BYOC_BROKER_URL: broker.url.replace('127.0.0.1', 'broker.test') }), ['access', 'list', '--json']);
    expect(elsewhere.exitCode).toBe(6);
    expect(JSON.parse(elsewhere.stderr).error.code).toBe('tls_untrusted');
    // (while its CA would be accepted there: the name is on the certificate)
    const withCa = await byocIn(client.cwd, env({ BYOC_BROKER_URL: broker.url.replace('127.0.0.1', 'broker.test'), BYOC_BROKER_CA: pki.caFile }), ['access', 'list', '--json']);
    expect(withCa.exitCode, withCa.stderr).toBe(0);
  });

  it('a wrong pin is refused with exit 4 naming both fingerprints, and nothing is stored', async () => {
    const { broker, client, env } = await httpsBroker();
    const wrong = `SHA256:${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`;
    const result = await byocIn(client.cwd, env(), ['broker', 'trust', broker.url, '--fingerprint', wrong, '--json']);
    expect(result.exitCode).toBe(4);
    const { error } = JSON.parse(result.stderr);
    expect(error.code).toBe('fingerprint_mismatch');
    expect(error.message).toContain(`not the expected ${wrong}`);
    expect(error.message).toMatch(/presents a certificate with fingerprint SHA256:[A-Za-z0-9+/]{43} \(([0-9A-F]{2}:){31}[0-9A-F]{2}\)/);
    expect(pinFiles(client.stateDir)).toEqual([]);
  });

  it('without --fingerprint it shows the certificate and trusts nothing (exit 2)', async () => {
    const { pki, broker, client, env } = await httpsBroker();
    const result = await byocIn(client.cwd, env(), ['broker', 'trust', broker.url]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('nothing was trusted');
    expect(result.stderr).toContain(pki.fingerprintHex.toUpperCase());
    expect(pinFiles(client.stateDir)).toEqual([]);
  });

  it('a matching pin for a certificate that does not name the URL\'s host is not kept: TLS still checks the name', async () => {
    // Given a broker whose certificate names only another host
    const { pki, broker, client, env } = await httpsBroker('DNS:elsewhere.test');
    // When the client pins it with the right fingerprint for https://127.0.0.1:PORT
    const result = await byocIn(client.cwd, env(), ['broker', 'trust', broker.url, '--fingerprint', pki.fingerprintHex, '--json']);
    // Then the verified connection that follows fails on the name (exit 6), and no pin is left behind
    expect(result.exitCode).toBe(6);
    expect(JSON.parse(result.stderr).error.message).toContain('127.0.0.1');
    expect(pinFiles(client.stateDir)).toEqual([]);
  });
});

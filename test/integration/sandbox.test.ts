/**
 * Tier 3: a real clickhouse-server (Debian's 18.16) behind a real nginx doing mutual TLS, on loopback.
 * One sandbox serves the whole file (ClickHouse takes a moment to start); afterAll always takes it down.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBroker } from '../../src/access/open.js';
import { sandboxAuthority } from '../../src/sandbox/broker-operator.js';
import type { SandboxAuthority } from '../../src/sandbox/operator.js';
import { serverUserFor } from '../../src/access/server-user.js';
import type { AccessBroker } from '../../src/access/broker.js';
import type { CertificateIssue } from '../../src/access/types.js';
import { createCsr, generateKeyPairPem, type KeyPairPem } from '../../src/pki/x509.js';
import { SANDBOX_HOST } from '../../src/sandbox/layout.js';
import { httpCall } from '../../src/sandbox/net.js';
import { sandboxPaths } from '../../src/sandbox/layout.js';
import {
  findSandboxBinaries,
  readCustomerPassword,
  readSandboxState,
  reloadNginx,
  sandboxDown,
  sandboxStatus,
  sandboxUp,
  writeNginxConfig,
  type SandboxHost,
  type SandboxUpResult,
} from '../../src/sandbox/sandbox.js';
import { nodeSandboxSystem } from '../../src/sandbox/system.js';
import { FakeClock, runCli, testContext } from '../fakes/context.js';
import { sandboxBinSettings } from './tier.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const CAROL = 'carol@vendor.example';
const DAVE = 'dave@vendor.example';
/** Identities that an earlier byoc folded to one ClickHouse user. */
const ALICE_TWIN = 'alice.vendor@example';

// The same settings `byoc sandbox up` honours, so a CI image can point at binaries outside the usual folders.
const explicit = sandboxBinSettings();
const binaries = findSandboxBinaries(process.env, explicit);
const sandboxUpBins = () => ({ clickhouseBin: explicit.clickhouse, nginxBin: explicit.nginx, prometheusBin: explicit.prometheus, nodeExporterBin: explicit.nodeExporter });
const available = Boolean(binaries.clickhouse && binaries.nginx && binaries.prometheus && binaries.nodeExporter);
const missing = [!binaries.clickhouse && 'clickhouse-server', !binaries.nginx && 'nginx', !binaries.prometheus && 'prometheus', !binaries.nodeExporter && 'prometheus-node-exporter']
  .filter(Boolean)
  .join(' and ');
const skipMessage = `sandbox integration tests skipped: ${missing} not installed (apt-get update && apt-get install -y clickhouse-server nginx-light prometheus prometheus-node-exporter)`;

if (!available && process.env.CI === 'true') {
  describe('sandbox integration tier', () => {
    it('runs under CI=true', () => {
      // Given CI / Then the real binaries must be there: this tier may not be skipped silently
      throw new Error(`CI=true but ${missing} is missing; install clickhouse-server, nginx-light, prometheus and prometheus-node-exporter in the CI image`);
    });
  });
} else if (!available) {
  console.warn(skipMessage);
}

/** A clock that really waits: the sandbox polls real processes. `offsetMs` shifts what it reads (not how it waits). */
function realClock(offsetMs = 0): FakeClock {
  return Object.assign(new FakeClock(), {
    now: () => new Date(Date.now() + offsetMs),
    sleep: (ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : undefined),
  });
}

interface Grant {
  id: string;
  /** the grant's own ClickHouse user */
  user: string;
  keys: KeyPairPem;
  issue: CertificateIssue;
  /** the certificate and key as files, for curl */
  files: { cert: string; key: string };
}

interface Answer {
  status?: number;
  body?: string;
  error?: string;
}

describe.skipIf(!available)('sandbox: ClickHouse 18.16 behind mutual-TLS nginx on loopback', () => {
  let stateDir: string;
  let env: Record<string, string>;
  let host: SandboxHost;
  let up: SandboxUpResult;
  let ca: string;
  let customerPassword: string;
  let harness: ReturnType<typeof testContext>;
  let broker: AccessBroker;
  let authority: SandboxAuthority;
  /** Shared, read-only grants (no test revokes them or lets them end): alice's, and the identity that once folded with hers. */
  let alice: Grant;
  let twin: Grant;

  beforeAll(async () => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'byoc-sandbox-'));
    env = { BYOC_STATE_DIR: stateDir, PATH: process.env.PATH ?? '/usr/bin:/bin' };
    if (explicit.clickhouse) env.BYOC_SANDBOX_CLICKHOUSE_BIN = explicit.clickhouse;
    if (explicit.nginx) env.BYOC_SANDBOX_NGINX_BIN = explicit.nginx;
    if (explicit.prometheus) env.BYOC_SANDBOX_PROMETHEUS_BIN = explicit.prometheus;
    if (explicit.nodeExporter) env.BYOC_SANDBOX_NODE_EXPORTER_BIN = explicit.nodeExporter;
    host = { env, clock: realClock(), system: nodeSandboxSystem() };
    // As `byoc sandbox up` does: the machine's broker, without its operator hooks, is the sandbox's authority.
    const operator = testContext({ env, clock: realClock() });
    authority = sandboxAuthority(await openBroker(operator.ctx, await operator.ctx.config(), { operatorHooks: false }));
    up = await sandboxUp(stateDir, host, { authority, ...sandboxUpBins() });
    ca = readFileSync(up.caFile, 'utf8');
    customerPassword = await readCustomerPassword(stateDir);
    // The broker as byoc opens it (services.json, hooks), with a clock that agrees with nginx's.
    harness = testContext({ env, clock: realClock() });
    broker = await openBroker(harness.ctx, await harness.ctx.config());
    alice = await approvedGrant(ALICE, BOB);
    twin = await approvedGrant(ALICE_TWIN, BOB);
  });

  afterAll(async () => {
    if (!stateDir) return;
    await sandboxDown(stateDir, host, { purge: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** HTTPS to nginx the way byoc will: connect to 127.0.0.1, verify the name ch.sandbox.byoc.internal against the CA. */
  function viaNginx(sql: string, options: { cert?: CertificateIssue; key?: string; query?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    return new Promise((resolve) => {
      const request = https.request(
        {
          host: '127.0.0.1',
          port: up.nginx.port,
          servername: SANDBOX_HOST,
          ca,
          ...(options.cert ? { cert: options.cert.certificate, key: options.key } : {}),
          method: 'POST',
          path: `/${options.query ?? ''}`,
          headers: { ...options.headers },
          agent: false,
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode!, body }));
        },
      );
      request.on('error', (error) => resolve({ error: error.message }));
      request.end(sql);
    });
  }

  async function asCustomer(sql: string): Promise<string> {
    const answer = await httpCall({ port: up.clickhouse.httpPort, method: 'POST', path: '/', headers: { 'X-ClickHouse-User': 'customer_admin', 'X-ClickHouse-Key': customerPassword }, body: sql });
    expect(answer.status, answer.body).toBe(200);
    return answer.body;
  }

  /**
   * Reads query_log after SYSTEM FLUSH LOGS. 18.16 may push a query's log entry just after the response
   * has reached the client, so a flush right after a query can miss it: retry for a few seconds.
   */
  async function queryLog(sql: string, ready: (text: string) => boolean): Promise<string> {
    let text = '';
    for (let attempt = 0; attempt < 50; attempt++) {
      await asCustomer('SYSTEM FLUSH LOGS');
      text = await asCustomer(sql);
      if (ready(text)) break;
      await delay(100);
    }
    return text;
  }

  async function certificateFor(identity: string, requestId: string, keys: KeyPairPem): Promise<CertificateIssue> {
    return broker.issueCertificate(identity, requestId, createCsr(keys, [{ name: 'commonName', value: identity }]));
  }

  it('up --json reports the engineer URL, the customer endpoint and the demo identities', async () => {
    // Given the sandbox started in beforeAll / When `byoc sandbox up --json` runs again
    const { exitCode, stdout, stderr } = await runCli(["sandbox", "up", "--json"], { env, clock: realClock() });
    expect(exitCode, stderr).toBe(0);
    const document = JSON.parse(stdout);
    // Then it is idempotent and the document has the stable fields
    expect(exitCode).toBe(0);
    expect(document).toMatchObject({
      service: 'sandbox',
      alreadyRunning: true,
      clickhouse: { httpUrl: `http://127.0.0.1:${up.clickhouse.httpPort}`, httpPort: up.clickhouse.httpPort, tcpPort: up.clickhouse.tcpPort },
      nginx: { url: `https://ch.sandbox.byoc.internal:${up.nginx.port}`, port: up.nginx.port },
      requester: ALICE,
      approver: BOB,
      customer: { user: 'customer_admin', passwordFile: path.join(stateDir, 'sandbox', 'customer.password'), url: `http://127.0.0.1:${up.clickhouse.httpPort}` },
      stateDir,
    });
    expect(new Set([up.clickhouse.httpPort, up.clickhouse.tcpPort, up.nginx.port]).size).toBe(3);
    // and every byoc command now knows the service
    const services = JSON.parse(readFileSync(path.join(stateDir, 'services.json'), 'utf8'));
    expect(services.sandbox).toEqual({
      clickhouse: { url: `https://ch.sandbox.byoc.internal:${up.nginx.port}` },
      policy: { approvers: [BOB, CAROL], approvals: 1, maxDuration: '2h', pendingTtl: '30m' },
      resolve: { 'ch.sandbox.byoc.internal': '127.0.0.1' },
      caFile: path.join(stateDir, 'broker', 'ca', 'ca.crt'),
      prometheus: { url: `https://ch.sandbox.byoc.internal:${up.nginx.metricsPort}`, caFile: path.join(stateDir, 'broker', 'ca', 'ca.crt') },
      audit: { url: `http://127.0.0.1:${up.clickhouse.httpPort}`, user: 'customer_admin', passwordFile: path.join(stateDir, 'sandbox', 'customer.password') },
    });
  });

  it('status shows both processes running and healthy', async () => {
    // When
    const { exitCode, stdout } = await runCli(['sandbox', 'status', '--json'], { env });
    const status = JSON.parse(stdout);
    // Then
    expect(exitCode).toBe(0);
    expect(status).toMatchObject({
      up: true,
      registered: true,
      clickhouse: { running: true, healthy: true, pid: up.clickhouse.pid, httpPort: up.clickhouse.httpPort, httpUrl: `http://127.0.0.1:${up.clickhouse.httpPort}` },
      nginx: { running: true, healthy: true, pid: up.nginx.pid, port: up.nginx.port, url: up.nginx.url },
    });
    expect(status.nginx.workers.length).toBeGreaterThan(0);
  });

  it('lets the customer reach ClickHouse directly with their own credential, and nobody without one', async () => {
    // When customer_admin counts the orders / Then the seeded rows are there
    expect((await asCustomer('SELECT count() FROM default.orders')).trim()).toBe('4');
    // When the default user tries without a password / Then ClickHouse refuses
    const anonymous = await httpCall({ port: up.clickhouse.httpPort, method: 'POST', path: '/', body: 'SELECT 1' });
    expect(anonymous.status).not.toBe(200);
    expect(anonymous.body).toMatch(/Password required for user default|Wrong password/);
  });

  it('refuses a connection without a client certificate', async () => {
    // When a client presents no certificate / Then nginx ends it (TLS alert) or answers 400
    const answer = await viaNginx('SELECT 1');
    if (answer.error === undefined) {
      expect(answer.status).toBe(400);
      expect(answer.body).toMatch(/No required SSL certificate/);
    } else {
      expect(answer.error).toMatch(/alert|certificate|socket hang up|ECONNRESET/i);
    }
  });

  /** The engineer's files as curl takes them: outside byoc entirely. */
  function filesFor(issue: CertificateIssue, keys: KeyPairPem): { cert: string; key: string } {
    const dir = mkdtempSync(path.join(stateDir, 'curl-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    writeFileSync(cert, issue.certificate, { mode: 0o600 });
    writeFileSync(key, keys.privateKeyPem, { mode: 0o600 });
    return { cert, key };
  }

  /** curl with the certificate straight to nginx, as anyone holding the files could. */
  function curl(files: { cert: string; key: string }, sql: string, query = ''): Promise<{ status: number; body: string }> {
    const url = `https://${SANDBOX_HOST}:${up.nginx.port}/${query}`;
    const args = ['-sS', '--max-time', '10', '--cacert', up.caFile, '--cert', files.cert, '--key', files.key, '--resolve', `${SANDBOX_HOST}:${up.nginx.port}:127.0.0.1`, '--data-binary', sql, '-w', '\n%{http_code}', url];
    return new Promise((resolve) => {
      execFile('curl', args, (error, stdout, stderr) => {
        const lines = stdout.split('\n');
        const status = Number(lines.pop());
        resolve({ status: Number.isFinite(status) ? status : 0, body: `${lines.join('\n')}${error ? stderr : ''}` });
      });
    });
  }

  /** ClickHouse's own HTTP port, with no nginx in between: what any local process can reach. */
  function direct(user: string, options: { key?: string; query?: string } = {}) {
    return httpCall({
      port: up.clickhouse.httpPort,
      method: 'POST',
      path: `/${options.query ?? ''}`,
      headers: { 'X-ClickHouse-User': user, ...(options.key !== undefined ? { 'X-ClickHouse-Key': options.key } : {}) },
      body: 'SELECT 1',
    });
  }

  async function approvedGrant(identity: string, approver: string): Promise<Grant> {
    const created = await broker.create(identity, { service: 'sandbox', reason: 'integration test', duration: '1h', scopes: ['clickhouse'] });
    await expect(broker.approve(approver, created.id, 'ok')).resolves.toMatchObject({ status: 'approved' });
    const keys = await generateKeyPairPem();
    const issue = await certificateFor(identity, created.id, keys);
    return { id: created.id, user: serverUserFor(created.id, identity), keys, issue, files: filesFor(issue, keys) };
  }

  let probes = 0;

  /** The ClickHouse user the server runs a query under (18.16 has no currentUser(): a query sees itself in processes). */
  async function serverUserOf(files: { cert: string; key: string }): Promise<{ status: number; body: string }> {
    const id = `byoc-whoami-${++probes}`;
    return curl(files, `SELECT user FROM system.processes WHERE query_id = '${id}'`, `?query_id=${id}`);
  }

  /** What the broker's hooks wrote to stderr while `action` ran (the harness is shared by the file). */
  async function warningsDuring(action: () => Promise<unknown>): Promise<string> {
    const before = harness.stderr.text.length;
    await action();
    return harness.stderr.text.slice(before);
  }

  it('an approved engineer queries system tables through nginx with the broker certificate', async () => {
    // Given a request of alice's approved by bob (the broker applies the operator step to the sandbox)
    let grant!: Grant;
    expect(await warningsDuring(async () => (grant = await approvedGrant(ALICE, BOB)))).not.toContain('warning');
    // When she counts system tables over HTTPS with her certificate
    const answer = await viaNginx('SELECT count() FROM system.tables', { cert: grant.issue, key: grant.keys.privateKeyPem, query: `?query_id=byoc-${grant.id}-1` });
    // Then ClickHouse answers
    expect(answer.error).toBeUndefined();
    expect(answer.status, answer.body).toBe(200);
    expect(Number(answer.body?.trim())).toBeGreaterThan(10);
    // and the sandbox lists the grant with its own user
    expect((await sandboxStatus(stateDir, host)).grants).toContainEqual({ requestId: grant.id, identity: ALICE, service: 'sandbox', user: grant.user, notAfter: expect.any(String), scopes: ['clickhouse'] });
  });

  it('nginx sees the request in the certificate subject (what users.map is keyed by)', async () => {
    // Given alice's grant / When she queries through nginx
    const answer = await viaNginx('SELECT count() FROM system.one', { cert: alice.issue, key: alice.keys.privateKeyPem });
    expect(answer.status, answer.body).toBe(200);
    // Then nginx logs the subject it maps, which carries the request's URN, and the user it chose
    const line = `dn="OU=urn:byoc:request:${alice.id},CN=${ALICE}" verify=SUCCESS ch_user="${alice.user}"`;
    const accessLog = path.join(stateDir, 'sandbox', 'nginx', 'logs', 'access.log');
    let log = '';
    for (let attempt = 0; attempt < 20 && !log.includes(line); attempt++) {
      log = readFileSync(accessLog, 'utf8');
      if (!log.includes(line)) await delay(50);
    }
    expect(log).toContain(line);
  });

  it('the customer table stays out of reach: ClickHouse itself refuses it', async () => {
    // When alice reads default.orders
    const answer = await viaNginx('SELECT * FROM default.orders', { cert: alice.issue, key: alice.keys.privateKeyPem });
    // Then ClickHouse (not nginx) denies access to the database
    expect(answer.status, JSON.stringify(answer)).toBe(500);
    expect(answer.body).toMatch(new RegExp(`Code: 291.*Access denied to database default for user ${alice.user}`));
  });

  it("ClickHouse's own port refuses engineer users: only nginx holds their password", async () => {
    // When a local process names alice's grant user on ClickHouse's port, with no password, an empty one, a
    // guessed one, or through ?user= / Then ClickHouse refuses every time
    for (const attempt of [{}, { key: '' }, { key: 'byoc' }, { query: `?user=${alice.user}` }, { query: `?user=${alice.user}&password=` }]) {
      const answer = await direct(attempt.query ? 'default' : alice.user, attempt);
      expect(answer.status, JSON.stringify(attempt)).not.toBe(200);
      expect(answer.body, JSON.stringify(attempt)).toMatch(/Code: (193|194|192)/);
    }
    // And the per-engineer user of earlier versions does not exist at all
    expect((await direct('byoc_alice_vendor_example')).body).toMatch(/Code: 192/);
    // And the same refusal from curl, outside byoc and node
    const raw = await new Promise<string>((resolve) =>
      execFile('curl', ['-sS', '-H', `X-ClickHouse-User: ${alice.user}`, '--data-binary', 'SELECT 1', `http://127.0.0.1:${up.clickhouse.httpPort}/`], (_error, stdout) => resolve(stdout)),
    );
    expect(raw).toMatch(/Code: 19[34]/);
  });

  it('no client can pick another ClickHouse user', async () => {
    // When the URL names a user, or an encoded one / Then nginx refuses
    for (const query of ['?user=default', `?password=${customerPassword}`, '?us%65r=customer_admin']) {
      const answer = await viaNginx('SELECT 1', { cert: alice.issue, key: alice.keys.privateKeyPem, query });
      expect(answer.status, query).toBe(403);
    }
    // When headers name the customer's user and password, and Basic auth too / Then the query still runs as alice
    const queryId = `byoc-spoof-${Date.now()}`;
    const spoofed = await viaNginx('SELECT count() FROM system.databases', {
      cert: alice.issue,
      key: alice.keys.privateKeyPem,
      query: `?query_id=${queryId}`,
      headers: {
        'X-ClickHouse-User': 'customer_admin',
        'X-ClickHouse-Key': customerPassword,
        Authorization: `Basic ${Buffer.from(`customer_admin:${customerPassword}`).toString('base64')}`,
      },
    });
    expect(spoofed.status, spoofed.body).toBe(200);
    const users = await queryLog(`SELECT DISTINCT user FROM system.query_log WHERE query_id = '${queryId}' AND type = 2`, (text) => text.trim() !== '');
    expect(users.trim()).toBe(alice.user);
  });

  it('readonly = 1: @clickhouse/client with default options works, a per-query setting is refused', async () => {
    // Given @clickhouse/client as the query runner would use it (default options: Basic auth header, no settings)
    const { createClient, ClickHouseLogLevel } = await import('@clickhouse/client');
    const agent = new https.Agent({
      ca,
      cert: alice.issue.certificate,
      key: alice.keys.privateKeyPem,
      keepAlive: true,
      lookup: ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
        options.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4)) as never,
    });
    const client = createClient({ url: up.nginx.url, http_agent: agent, application: 'byoc-integration', log: { level: ClickHouseLogLevel.OFF } });
    try {
      // When it reads system.databases / Then rows come back
      const result = await client.query({ query: 'SELECT name FROM system.databases ORDER BY name', format: 'JSONEachRow' });
      expect((await result.json<{ name: string }>()).map((row) => row.name)).toContain('system');
      // When it sends a setting (log_queries=0 would hide the query from the audit) / Then ClickHouse refuses
      await expect(client.query({ query: 'SELECT 1', clickhouse_settings: { log_queries: 0 } })).rejects.toThrow(/readonly/);
    } finally {
      await client.close();
      agent.destroy();
    }
  });

  it('a valid certificate for an identity without approved ClickHouse access gets 403 from nginx', async () => {
    // Given dave approved for kubernetes only: his certificate is valid, but no ClickHouse user was made
    const daveKeys = await generateKeyPairPem();
    const created = await broker.create(DAVE, { service: 'sandbox', reason: 'k8s only', duration: '1h', scopes: ['kubernetes'] });
    await broker.approve(CAROL, created.id);
    const dave = await certificateFor(DAVE, created.id, daveKeys);
    // When he queries through nginx / Then nginx itself refuses
    const answer = await viaNginx('SELECT 1', { cert: dave, key: daveKeys.privateKeyPem });
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('no approved access');
  });

  it("query_log records the engineer's queries, and no probe of the operator step", async () => {
    // Given a new grant of alice's (whose operator step probed ClickHouse for its user), used for an allowed query
    // and a denied one
    const grant = await approvedGrant(ALICE, CAROL);
    const tagged = `byoc-${grant.id}-1`;
    expect((await viaNginx('SELECT count() FROM system.tables', { cert: grant.issue, key: grant.keys.privateKeyPem, query: `?query_id=${tagged}` })).status).toBe(200);
    expect((await viaNginx('SELECT * FROM default.orders', { cert: grant.issue, key: grant.keys.privateKeyPem })).status).toBe(500);
    // When the customer flushes and reads the log
    const sql = `SELECT type, query FROM system.query_log WHERE user = '${grant.user}' ORDER BY event_time FORMAT TSV`;
    const rows = (await queryLog(sql, (text) => text.includes('2\tSELECT count() FROM system.tables') && text.includes('3\tSELECT * FROM default.orders')))
      .trim()
      .split('\n')
      .map((line) => line.split('\t'));
    // Then the system query finished (type 2), the denied orders read is there as an exception (type 3)
    expect(rows).toContainEqual(['2', 'SELECT count() FROM system.tables']);
    expect(rows.filter(([, query]) => query === 'SELECT * FROM default.orders').map(([type]) => type)).toContain('3');
    expect((await asCustomer(`SELECT count() FROM system.query_log WHERE query_id = '${tagged}'`)).trim()).not.toBe('0');
    // and the operator step's readiness probe (a refused login) never shows up as the grant user's query
    expect(rows.filter(([, query]) => query === 'SELECT 1')).toEqual([]);
  });

  it('identities that folded alike stay apart: each has its own user, and both work', async () => {
    // Given a second grant of alice's, besides her first and the grant of alice.vendor@example (both were once
    // byoc_alice_vendor_example)
    const second = await approvedGrant(ALICE, CAROL);
    // Then three distinct users, and curl with each certificate runs as its own user
    expect(new Set([alice.user, second.user, twin.user]).size).toBe(3);
    for (const grant of [alice, second, twin]) {
      const answer = await serverUserOf(grant.files);
      expect(answer, grant.user).toEqual({ status: 200, body: `${grant.user}\n` });
    }
    const users = (await sandboxStatus(stateDir, host)).grants.map((grant) => grant.user);
    expect(users).toEqual(expect.arrayContaining([alice.user, second.user, twin.user]));
  });

  it('a revoked grant is refused at the server within 2 s of byoc access revoke, while the same engineer keeps her other grant', async () => {
    // Given a grant of alice's whose certificate works from curl, besides her other grant
    const first = await approvedGrant(ALICE, BOB);
    expect((await curl(first.files, 'SELECT 1')).status).toBe(200);
    // When `byoc access revoke` runs, and curl keeps trying with the revoked certificate
    const warnings = await warningsDuring(async () => {
      const started = Date.now();
      const revoked = runCli(['access', 'revoke', first.id, '--json'], { env: { ...env, BYOC_USER: ALICE }, clock: realClock() });
      let refusedAfter: number | undefined;
      let last = { status: 0, body: '' };
      while (refusedAfter === undefined && Date.now() - started < 5000) {
        last = await curl(first.files, 'SELECT 1');
        if (last.status !== 200) refusedAfter = Date.now() - started;
        else await delay(50);
      }
      const result = await revoked;
      // Then the revocation succeeded and the server refused the certificate within 2 s
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).not.toContain('warning');
      expect(refusedAfter, JSON.stringify(last)).toBeDefined();
      expect(refusedAfter!).toBeLessThanOrEqual(2000);
    });
    // and keeps refusing it in the TLS layer (400 "SSL certificate error" for an unexpired certificate: the CRL;
    // a mapping removed alone would be a 403)
    const after = await curl(first.files, 'SELECT 1');
    expect(after.status).toBe(400);
    expect(after.body).toMatch(/SSL certificate error/);
    // while her other grant, and the identity that used to fold with hers, still work
    expect(await serverUserOf(alice.files)).toEqual({ status: 200, body: `${alice.user}\n` });
    expect(await serverUserOf(twin.files)).toEqual({ status: 200, body: `${twin.user}\n` });
    // and only the revoked grant's user is gone from ClickHouse
    expect((await direct(first.user, { key: 'x' })).body).toMatch(/Code: 192/);
    expect((await direct(alice.user, { key: 'x' })).body).toMatch(/Code: 193/);
    expect(warnings).not.toContain('warning');
  });

  it('the CRL alone refuses a revoked certificate, even if a mapping for it came back', async () => {
    // Given a revoked grant of alice's
    const revoked = await approvedGrant(ALICE, BOB);
    expect(await warningsDuring(() => broker.revoke(ALICE, revoked.id))).not.toContain('warning');
    // And the broker's CRL, which openssl verifies against the CA and which lists the revoked serial
    const crl = await broker.crl();
    const crlFile = path.join(stateDir, `crl-check-${revoked.id}.pem`);
    writeFileSync(crlFile, crl.pem);
    const openssl = (args: string[]) => new Promise<{ code: number; out: string }>((resolve) => execFile('openssl', args, (error, stdout, stderr) => resolve({ code: error ? 1 : 0, out: stdout + stderr })));
    expect(await openssl(['crl', '-in', crlFile, '-CAfile', up.caFile, '-noout'])).toMatchObject({ code: 0, out: expect.stringMatching(/verify OK/) });
    expect((await openssl(['crl', '-in', crlFile, '-noout', '-text'])).out.toUpperCase()).toContain(revoked.issue.serial.toUpperCase());
    // When an operator's mistake maps the revoked certificate's subject to a live user again
    const paths = sandboxPaths(stateDir);
    const usersMap = readFileSync(paths.nginx.usersMap, 'utf8');
    writeFileSync(paths.nginx.usersMap, `${usersMap}"OU=urn:byoc:request:${revoked.id},CN=${ALICE}" ${alice.user};\n`);
    const state = (await readSandboxState(stateDir))!;
    await reloadNginx(paths, state, host, await writeNginxConfig(paths, state, up.caFile, host.system.isRoot));
    try {
      // Then nginx still refuses the revoked certificate, by its serial on the CRL
      const answer = await serverUserOf(revoked.files);
      expect(answer.status, answer.body).toBe(400);
    } finally {
      writeFileSync(paths.nginx.usersMap, usersMap);
      await reloadNginx(paths, state, host, await writeNginxConfig(paths, state, up.caFile, host.system.isRoot));
    }
  });

  it('expiry ends access at the server: nginx refuses the certificate, and the sweep removes the user', async () => {
    // Given a grant that ends in 4 s: the shortest one (1m), asked, approved and issued 56 s ago by a broker on the
    // same state folder (grants below a minute are refused, and nginx judges expiry by the real time)
    const past = testContext({ env, clock: realClock(-56_000) });
    const earlier = await openBroker(past.ctx, await past.ctx.config());
    const created = await earlier.create(ALICE, { service: 'sandbox', reason: 'integration test', duration: '1m', scopes: ['clickhouse'] });
    await expect(earlier.approve(BOB, created.id, 'ok')).resolves.toMatchObject({ status: 'approved' });
    const keys = await generateKeyPairPem();
    const issue = await earlier.issueCertificate(ALICE, created.id, createCsr(keys, [{ name: 'commonName', value: ALICE }]));
    const short = { id: created.id, user: serverUserFor(created.id, ALICE), issue, files: filesFor(issue, keys) };
    expect(Date.parse(issue.notAfter) - Date.now()).toBeLessThan(5000);
    expect((await serverUserOf(short.files)).status).toBe(200);
    const end = Date.parse(short.issue.notAfter);
    // When its end has passed
    await delay(Math.max(0, end - Date.now()) + 1200);
    // Then nginx refuses the certificate on its own (the grant end is the certificate's notAfter)
    const answer = await curl(short.files, 'SELECT 1');
    expect(answer.status).toBe(400);
    // and the next broker operation sweeps the grant: its ClickHouse user is gone, the others stay
    await broker.list(ALICE, { mine: true });
    expect((await direct(short.user, { key: 'x' })).body).toMatch(/Code: 192/);
    expect((await sandboxStatus(stateDir, host)).grants.map((grant) => grant.requestId)).not.toContain(short.id);
    expect((await direct(alice.user, { key: 'x' })).body).toMatch(/Code: 193/);
  });

  it('sandbox up re-applies what the broker approved and drops what it revoked, with the same users', async () => {
    // Given decisions the sandbox did not hear of (taken on the broker without its operator hooks, as while it was
    // down): one grant approved, and one live grant revoked
    const quiet = testContext({ env, clock: realClock() });
    const unhooked = await openBroker(quiet.ctx, await quiet.ctx.config(), { operatorHooks: false });
    const dropped = await approvedGrant(ALICE, BOB);
    await unhooked.revoke(ALICE, dropped.id);
    const missed = await unhooked.create(ALICE, { service: 'sandbox', reason: 'approved while down', duration: '1h', scopes: ['clickhouse'] });
    await unhooked.approve(BOB, missed.id);
    const missedUser = serverUserFor(missed.id, ALICE);
    expect((await direct(missedUser, { key: 'x' })).body).toMatch(/Code: 192/);
    expect((await direct(dropped.user, { key: 'x' })).body).toMatch(/Code: 193/);
    // When `byoc sandbox up` runs again
    const { exitCode } = await runCli(['sandbox', 'up', '--json'], { env, clock: realClock() });
    // Then the live grants are exactly the broker's approved, unexpired ClickHouse grants, and the others still work
    expect(exitCode).toBe(0);
    const approved = (await broker.list(BOB, { service: 'sandbox', status: 'approved' })).filter((request) => request.scopes.includes('clickhouse'));
    const live = (await sandboxStatus(stateDir, host)).grants.map((grant) => grant.user).sort();
    expect(live).toEqual(approved.map((request) => serverUserFor(request.id, request.requester)).sort());
    expect(live).toContain(missedUser);
    expect(live).not.toContain(dropped.user);
    expect((await direct(dropped.user, { key: 'x' })).body).toMatch(/Code: 192/);
    expect((await direct(missedUser, { key: 'x' })).body).toMatch(/Code: 193/);
    expect((await curl(twin.files, 'SELECT 1')).status).toBe(200);
  });

  it('down leaves no process running and removes the registration', async () => {
    // Given every pid of the sandbox
    const status = await sandboxStatus(stateDir, host);
    const pids = [status.clickhouse.pid!, status.nginx.pid!, ...status.nginx.workers];
    expect(pids.every((pid) => host.system.isAlive(pid))).toBe(true);
    try {
      // When
      const { exitCode, stdout } = await runCli(['sandbox', 'down', '--json'], { env, clock: realClock() });
      // Then
      expect(exitCode).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ clickhouse: { wasRunning: true }, nginx: { wasRunning: true }, unregistered: true, purged: false });
      expect(pids.filter((pid) => host.system.isAlive(pid))).toEqual([]);
      expect(await sandboxStatus(stateDir, host)).toMatchObject({ up: false, registered: false, configured: true });
    } finally {
      // The other tests of this file share the sandbox, in any order: bring it back (same state, same grants).
      up = await sandboxUp(stateDir, host, { authority, ...sandboxUpBins() });
    }
  });
});

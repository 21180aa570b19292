/**
 * Tier 3 for `byoc query` and `byoc audit query-log`: the real sandbox (ClickHouse 18.16 behind nginx doing
 * mutual TLS). One sandbox for the file; afterAll always takes it down.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { describe, expect, it } from 'vitest';
import { serverUserFor } from '../../src/access/server-user.js';
import { clickhouseConnector } from '../../src/clickhouse/client.js';
import { createAgent } from '../../src/net/network.js';
import { issueClientCertificate, loadOrCreateBrokerCa } from '../../src/pki/ca.js';
import { processLockOwner } from '../../src/access/open.js';
import { createCsr, generateKeyPairPem } from '../../src/pki/x509.js';
import { main } from '../../src/main.js';
import { testBase } from '../fakes/context.js';
import { sandboxTier, sandboxWorkspace } from './tier.js';

const available = sandboxTier('query and audit integration tier');
const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';

describe.skipIf(!available)('byoc query and audit on the real sandbox', () => {
  const sandbox = sandboxWorkspace('audit');
  const { as, customer, clock } = sandbox;
  const approvedEngineer = () => sandbox.approvedEngineer('engineer');

  /** The engineer's certificate and key files for the sandbox, as `byoc cert get` leaves them. */
  const certificateOf = async (identity: string): Promise<{ certPem: string; keyPem: string }> => {
    const got = await as(identity, ['cert', 'get', 'sandbox', '--json']);
    expect(got.exitCode, got.stderr).toBe(0);
    const { certPath, keyPath } = JSON.parse(got.stdout);
    return { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') };
  };

  /** HTTPS to nginx with a given client certificate and query_id, bypassing byoc entirely. */
  const direct = (sql: string, cert: { certPem: string; keyPem: string } | undefined, queryId?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(sandbox.up.nginx.url);
      const request = https.request(
        {
          host: '127.0.0.1',
          port: url.port,
          servername: url.hostname,
          method: 'POST',
          path: queryId ? `/?query_id=${queryId}` : '/',
          ca: readFileSync(sandbox.up.caFile, 'utf8'),
          ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
        },
        (response) => {
          let body = '';
          response.on('data', (chunk) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      request.on('error', reject);
      request.end(sql);
    });

  /** A certificate from the broker's CA for any CN and validity, as an attacker with a stolen CA would not have. */
  const craftedCertificate = async (commonName: string, notBefore: Date, notAfter: Date) => {
    const ca = await loadOrCreateBrokerCa(sandbox.stateDir, new Date(), { warn: () => undefined, owner: processLockOwner() });
    const keys = await generateKeyPairPem();
    const issued = issueClientCertificate(ca, { csrPem: createCsr(keys, [{ name: 'commonName', value: commonName }]), identity: commonName, requestId: 'r-crafted0000', notBefore, notAfter });
    return { certPem: issued.certPem, keyPem: keys.privateKeyPem };
  };

  it('reads system tables with the certificate from the broker', async () => {
    const { identity, requestId } = await approvedEngineer();
    const result = await as(identity, ['query', 'sandbox', "SELECT name FROM system.databases WHERE name = 'system'", '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ requestId, rows: [{ name: 'system' }], rowCount: 1 });
  });

  it('nginx refuses a certificate for a CN that was never approved, and an expired one', async () => {
    const now = Date.now();
    const stranger = await direct('SELECT 1', await craftedCertificate('mallory@vendor.example', new Date(now - 60_000), new Date(now + 3_600_000)));
    expect(stranger.status).toBe(403);
    const expired = await direct('SELECT 1', await craftedCertificate(ALICE, new Date(now - 7_200_000), new Date(now - 3_600_000)));
    expect(expired.status).toBe(400);
    expect(expired.body).toMatch(/certificate/i);
    expect((await direct('SELECT 1', undefined)).status).toBe(400);
  });

  it("through byoc's client, nginx refusing a revoked or expired certificate is exit 4 saying the server refused it", async () => {
    // Given a revoked grant's certificate and an expired one, sent through byoc's client and network layer (byoc's own
    // checks bypassed, so the answer is nginx's)
    const { identity, requestId } = await approvedEngineer();
    const revokedCert = await certificateOf(identity);
    expect((await as(BOB, ['access', 'revoke', requestId])).exitCode).toBe(0);
    const now = Date.now();
    const expiredCert = await craftedCertificate(ALICE, new Date(now - 7_200_000), new Date(now - 3_600_000));
    const attempt = async (cert: { certPem: string; keyPem: string }) => {
      const agent = await createAgent(new URL(sandbox.up.nginx.url), { resolve: { 'ch.sandbox.byoc.internal': '127.0.0.1' }, env: {} }, { cert: cert.certPem, key: cert.keyPem, ca: readFileSync(sandbox.up.caFile, 'utf8') });
      const session = await clickhouseConnector.connect({ url: sandbox.up.nginx.url, service: 'sandbox', requestId, agent, application: 'integration-test', timeoutMs: 10_000 });
      try {
        return await session.query({ sql: 'SELECT 1 FROM system.one', queryId: `byoc-${requestId}-refused-cert`, format: 'TabSeparated', settings: {} }).then(() => undefined, (error: unknown) => error);
      } finally {
        await session.close();
      }
    };
    // Then each is a refusal (exit 4) naming the server's decision, never the network path or "request failed"
    const revoked = await attempt(revokedCert);
    expect(revoked).toMatchObject({ exitCode: 4, code: expect.stringMatching(/^(certificate_refused|endpoint_refused)$/) });
    expect((revoked as Error).message).toMatch(/refused your (certificate|identity)/);
    const expired = await attempt(expiredCert);
    expect(expired).toMatchObject({ exitCode: 4, code: 'certificate_refused', message: expect.stringContaining('the server refused your certificate') });
    expect((expired as { hint: string }).hint).toContain('byoc cert show sandbox');
  });

  it('keeps default.orders out of reach: refused by the guard, and by the server when the guard is bypassed', async () => {
    const { identity, requestId } = await approvedEngineer();
    const viaByoc = await as(identity, ['query', 'sandbox', 'SELECT * FROM default.orders']);
    expect(viaByoc.exitCode).toBe(4);
    expect(viaByoc.stderr).toContain('default.orders is not in the system');
    // the same certificate, through byoc's own client and network layer, with no guard in front
    const cert = await certificateOf(identity);
    const agent = await createAgent(new URL(sandbox.up.nginx.url), { resolve: { 'ch.sandbox.byoc.internal': '127.0.0.1' }, env: {} }, { cert: cert.certPem, key: cert.keyPem, ca: readFileSync(sandbox.up.caFile, 'utf8') });
    const session = await clickhouseConnector.connect({ url: sandbox.up.nginx.url, agent, application: 'integration-test', timeoutMs: 10_000 });
    const attempt = session.query({ sql: 'SELECT * FROM default.orders', queryId: `byoc-${requestId}-direct-orders`, format: 'TabSeparated', settings: {} });
    await expect(attempt).rejects.toMatchObject({ exitCode: 4, message: expect.stringMatching(/Access denied to database default/) });
    await session.close();
  });

  it("records the engineer's query in query_log under byoc's query_id", async () => {
    const { identity, requestId } = await approvedEngineer();
    const result = await as(identity, ['query', 'sandbox', 'SELECT count() AS tables FROM system.tables', '--json', '--verbose']);
    const { queryId } = JSON.parse(result.stdout);
    expect(queryId).toMatch(new RegExp(`^byoc-${requestId}-`));
    await customer('SYSTEM FLUSH LOGS');
    const logged = await customer(`SELECT user, type FROM system.query_log WHERE query_id = '${queryId}' ORDER BY type FORMAT TSV`);
    // the server stamped the grant's own user, which names the request and the engineer
    expect(logged).toContain(serverUserFor(requestId, identity));
  });

  it("the customer's audit attributes every engineer query from the server's user, with no --grants, and flags refusals and forged tags", async () => {
    // Given an engineer's allowed queries through byoc, one refused by the server, one tagged for another request and
    // one with no byoc tag (the last three sent directly with the engineer's certificate, around byoc)
    const { identity, requestId } = await approvedEngineer();
    const user = serverUserFor(requestId, identity);
    const ran: string[] = [];
    for (const sql of ['SELECT cluster FROM system.clusters', 'SELECT metric, value FROM system.metrics LIMIT 3']) {
      ran.push(JSON.parse((await as(identity, ['query', 'sandbox', sql, '--json'])).stdout).queryId);
    }
    const cert = await certificateOf(identity);
    expect((await direct('SELECT * FROM default.orders', cert, `byoc-${requestId}-refused`)).status).not.toBe(200);
    expect((await direct('SELECT 1 FROM system.one', cert, 'byoc-r-zzzzzzzzzz-forged')).status).toBe(200);
    expect((await direct('SELECT 2 FROM system.one', cert, 'adhoc-untagged')).status).toBe(200);
    await customer('SELECT 42'); // the customer's own activity must not show up
    // When the customer audits with their own credentials, and no grants from the vendor
    const audit = await as(undefined, ['audit', 'query-log', 'sandbox', '--flush', '--since', '1h', '--queries', '--json']);
    expect(audit.exitCode, audit.stderr).toBe(0);
    const report = JSON.parse(audit.stdout);
    type Row = { user: string; engineer: string; requestId: string; queryId: string; query: string };
    const rows: Row[] = report.queries;
    // Then every engineer query is under the request and the engineer its server user names (whichever test ran
    // it), and nothing of the customer's own is there
    for (const row of rows) expect(row.user, row.queryId).toBe(serverUserFor(row.requestId, row.engineer));
    expect(rows.filter((row) => row.user === sandbox.up.customer.user || row.query === 'SELECT 42')).toEqual([]);
    // And this engineer's queries, through byoc and around it, are under their grant and their name
    const mine = rows.filter((row) => row.user === user);
    for (const queryId of ran) expect(mine.map((row) => row.queryId)).toContain(queryId);
    for (const row of mine) expect(row).toMatchObject({ engineer: identity, requestId });
    const request = report.requests.find((entry: { requestId: string }) => entry.requestId === requestId);
    expect(request.engineers).toEqual([identity]);
    expect(request.queries).toBeGreaterThanOrEqual(ran.length + 3);
    expect(request.denied).toBeGreaterThanOrEqual(1);
    // and the forged tag counts under the engineer's grant, never under the request it names
    expect(report.requests.map((entry: { requestId: string }) => entry.requestId)).not.toContain('r-zzzzzzzzzz');
    const findingsOf = (queryId: string) => report.findings.filter((finding: { row: { queryId: string } }) => finding.row.queryId === queryId);
    const kindsOf = (queryId: string) => findingsOf(queryId).map((finding: { kind: string }) => finding.kind).sort();
    // And the refusal is a finding, with the non-system table named
    expect(kindsOf(`byoc-${requestId}-refused`)).toEqual(['denied', 'non-system-table']);
    // And the forged tag is a finding naming both requests, the missing tag another
    expect(kindsOf('byoc-r-zzzzzzzzzz-forged')).toEqual(['tag-mismatch']);
    const [forged] = findingsOf('byoc-r-zzzzzzzzzz-forged');
    expect(forged.row).toMatchObject({ requestId, taggedRequestId: 'r-zzzzzzzzzz', engineer: identity });
    expect(forged.detail).toContain(requestId);
    expect(forged.detail).toContain('r-zzzzzzzzzz');
    expect(kindsOf('adhoc-untagged')).toEqual(['untagged']);
    expect(report.schema).toEqual({ logComment: false, tables: false, typeIsEnum: false, exceptionCode: false });
    // And --engineer picks the engineer's grants by identity; --findings-only turns findings into exit 4 for scheduled checks
    const byEngineer = JSON.parse((await as(undefined, ['audit', 'query-log', 'sandbox', '--since', '1h', '--engineer', identity, '--json'])).stdout);
    expect(byEngineer.engineers.map((entry: { engineer: string }) => entry.engineer)).toEqual([identity]);
    expect((await as(undefined, ['audit', 'query-log', 'sandbox', '--since', '1h', '--findings-only'])).exitCode).toBe(4);
  });

  it("a scripted session's findings are exactly right: a real refusal, a syntax error, an unknown table and a read of another user's query text", async () => {
    // Given the customer running a query with a card number in its text
    const card = `4111-1111-${Date.now() % 10_000}-0019`;
    await customer(`SELECT '${card}' AS card FORMAT TSV`);
    await customer('SYSTEM FLUSH LOGS');
    // And an engineer who, through byoc, counts the query log (no text read) and then reads the customer's query text
    const { identity, requestId } = await approvedEngineer();
    const count = await as(identity, ['query', 'sandbox', 'SELECT count() AS queries FROM system.query_log', '--json']);
    expect(count.exitCode, count.stderr).toBe(0);
    const read = await as(identity, ['query', 'sandbox', `SELECT user, query FROM system.query_log WHERE query LIKE '%${card}%'`, '--json']);
    expect(read.exitCode, read.stderr).toBe(0);
    // (the exposure is real: the literal comes back to the engineer)
    expect(read.stdout).toContain(card);
    const readQueryId = JSON.parse(read.stdout).queryId as string;
    // And, with the same certificate around byoc's guard, a query the server refuses, a syntax error and an unknown table
    const cert = await certificateOf(identity);
    expect((await direct('SELECT * FROM default.orders', cert, `byoc-${requestId}-refused`)).body).toMatch(/Code: (291|497)/);
    expect((await direct('SELEC 1', cert, `byoc-${requestId}-syntax`)).body).toMatch(/Code: 62/);
    expect((await direct('SELECT * FROM system.no_such_table', cert, `byoc-${requestId}-unknown`)).body).toMatch(/Code: 60/);
    // When the customer audits this request
    const audit = await as(undefined, ['audit', 'query-log', 'sandbox', '--flush', '--since', '1h', '--request', requestId, '--json']);
    expect(audit.exitCode, audit.stderr).toBe(0);
    const report = JSON.parse(audit.stdout);
    type Finding = { kind: string; detail: string; row: { queryId: string; readRows: number; type: string } };
    // Then the findings are exactly: the refusal (denied, and the table it named), and the read of query texts
    // (order by kind: the read and the refusal may share a second)
    expect(report.findings.map((finding: Finding) => [finding.kind, finding.row.queryId]).sort()).toEqual([
      ['denied', `byoc-${requestId}-refused`],
      ['non-system-table', `byoc-${requestId}-refused`],
      ['query-text-read', readQueryId],
    ]);
    const textRead = (report.findings as Finding[]).find((finding) => finding.kind === 'query-text-read');
    expect(textRead!.row.readRows).toBeGreaterThan(0);
    expect(textRead!.detail).toBe(`${identity} read other users' query texts (query of system.query_log): ${textRead!.row.readRows} rows read`);
    // And the syntax error and the unknown table are failures, not refusals
    const [request] = report.requests;
    expect(request).toMatchObject({ requestId, engineers: [identity], failures: 3, denied: 1 });
    expect(request.queries).toBeGreaterThanOrEqual(5);
    // And 18.16 keeps no session log: the failed-login check says it was skipped, on stderr too
    expect(report.notes).toEqual([expect.stringContaining('failed logins not checked')]);
    expect(audit.stderr).toContain('failed logins not checked');
    // And --findings-only is exit 4 on them
    expect((await as(undefined, ['audit', 'query-log', 'sandbox', '--since', '1h', '--request', requestId, '--findings-only'])).exitCode).toBe(4);
  });

  it('--follow prints each new query exactly once, and stops cleanly on Ctrl-C', async () => {
    // Given an engineer, and a follower polling every 300 ms
    const { identity } = await approvedEngineer();
    const controller = new AbortController();
    const harness = testBase({ cwd: sandbox.cwd, clock, signal: controller.signal, env: { BYOC_STATE_DIR: sandbox.stateDir } });
    const following = main(['audit', 'query-log', 'sandbox', '--follow', '--json', '--since', '1m', '--interval', '300ms'], harness.base);
    // When the engineer runs three queries while it follows (flushing so the log catches up)
    const ran: string[] = [];
    for (let index = 0; index < 3; index++) {
      ran.push(JSON.parse((await as(identity, ['query', 'sandbox', `SELECT ${index} AS n FROM system.one`, '--json'])).stdout).queryId);
      await customer('SYSTEM FLUSH LOGS');
    }
    const seen = () => harness.stdout.text.split('\n').filter(Boolean).map((line) => JSON.parse(line).queryId as string);
    for (let waited = 0; waited < 10_000 && !ran.every((id) => seen().includes(id)); waited += 200) await new Promise((resolve) => setTimeout(resolve, 200));
    // Let it poll a few more times: nothing may repeat
    await new Promise((resolve) => setTimeout(resolve, 1000));
    controller.abort();
    await following;
    // Then each query appears exactly once
    for (const id of ran) expect(seen().filter((queryId) => queryId === id)).toHaveLength(1);
    expect(new Set(seen()).size).toBe(seen().length);
  }, 30_000);

  it('after revocation the next query is refused with the next step', async () => {
    // Given an engineer whose queries work
    const { identity, requestId } = await approvedEngineer();
    expect((await as(identity, ['query', 'sandbox', 'SELECT 1 FROM system.one'])).exitCode).toBe(0);
    // When bob revokes the request / Then the next query is refused, saying by whom and what to do
    expect((await as(BOB, ['access', 'revoke', requestId])).exitCode).toBe(0);
    const result = await as(identity, ['query', 'sandbox', 'SELECT 1 FROM system.one']);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain('revoked by bob@vendor.example');
    expect(result.stderr).toContain('byoc access request sandbox');
  });
});

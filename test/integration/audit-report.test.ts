/**
 * Tier 3 for `byoc audit report` and `verify`: an evidence pack from the real sandbox (ClickHouse 18.16 behind
 * nginx doing mutual TLS), checked by byoc and by openssl, and refused after a change. afterAll takes it down.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sandboxTier, sandboxWorkspace } from './tier.js';

const available = sandboxTier('audit report integration tier');

describe.skipIf(!available)('byoc audit report on the real sandbox', () => {
  const sandbox = sandboxWorkspace('audit-report');
  const { as } = sandbox;

  it('writes a signed pack of an engineer session that verifies with byoc and openssl, and not after a change', async () => {
    // Given an engineer who ran a query under an approved request
    const { identity, requestId } = await sandbox.approvedEngineer('reporter');
    expect((await as(identity, ['query', 'sandbox', 'SELECT count() FROM system.parts', '--json'])).exitCode).toBe(0);
    // And the customer's signing key, its public key published as a file
    const keygen = await as(undefined, ['audit', 'keygen']);
    expect(keygen.exitCode, keygen.stderr).toBe(0);
    writeFileSync(path.join(sandbox.cwd, 'audit-signing.pub.pem'), keygen.stdout);
    // When the customer writes the pack
    const report = await as(undefined, ['audit', 'report', 'sandbox', '--flush', '--since', '1h', '--out', 'audit-pack', '--json']);
    expect(report.exitCode, report.stderr).toBe(0);
    const dir = path.join(sandbox.cwd, 'audit-pack');
    expect(readdirSync(dir).sort()).toEqual(['events.ndjson', 'findings.ndjson', 'manifest.json', 'manifest.sig', 'public-key.pem', 'report.html', 'summary.json']);
    // Then the events hold the engineer's query as the server logged it, and the summary their request
    const events = readFileSync(path.join(dir, 'events.ndjson'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(events.some((event) => event.engineer === identity && event.requestId === requestId && event.query.includes('system.parts'))).toBe(true);
    const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    expect(summary.requests.find((entry: { requestId: string }) => entry.requestId === requestId)).toMatchObject({ engineers: [identity], tablesTouched: expect.arrayContaining(['system.parts']) });
    // And byoc and openssl (the README's recipe) both accept it with the published key
    expect((await as(undefined, ['audit', 'verify', 'audit-pack', '--public-key', 'audit-signing.pub.pem'])).exitCode).toBe(0);
    const openssl = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', '../audit-signing.pub.pem', '-rawin', '-in', 'manifest.json', '-sigfile', 'manifest.sig'], { cwd: dir, encoding: 'utf8' });
    expect(openssl).toContain('Signature Verified Successfully');
    // When one byte of events.ndjson changes
    const file = path.join(dir, 'events.ndjson');
    const bytes = readFileSync(file);
    bytes[10]! ^= 0x01;
    writeFileSync(file, bytes);
    // Then verify exits 4, naming it
    const tampered = await as(undefined, ['audit', 'verify', 'audit-pack', '--public-key', 'audit-signing.pub.pem']);
    expect(tampered.exitCode).toBe(4);
    expect(tampered.stderr).toContain('events.ndjson changed');
  });
});

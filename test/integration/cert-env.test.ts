/**
 * Tier 3: what `byoc cert env` prints is enough for outside programs to reach the real sandbox (ClickHouse 18.16
 * behind mutual-TLS nginx) as the grant, with byoc nowhere on the path: curl with the flags as printed, and curl
 * from a shell that evaluated the exports. `byoc services` shows the sandbox and the grant.
 */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { serverUserFor } from '../../src/access/server-user.js';
import { sandboxTier, sandboxWorkspace } from './tier.js';

function shell(script: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', script, 'sh', ...args], { encoding: 'utf8', timeout: 20_000 }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}

describe.skipIf(!sandboxTier('cert env integration tier'))('sandbox: byoc cert env for other tools, and byoc services', () => {
  const ws = sandboxWorkspace('cert-env');

  it('curl with the printed flags queries the sandbox as the grant\'s own server user; the server refuses a write', async () => {
    // Given an engineer with an approved sandbox grant
    const { identity, requestId } = await ws.approvedEngineer('curl');
    const flags = await ws.as(identity, ['cert', 'env', 'sandbox', '--format', 'curl']);
    expect(flags.exitCode, flags.stderr).toBe(0);
    // When curl runs with them, as the README shows
    const marker = `cert-env-${Date.now()}`;
    const answer = await shell(`curl -sS --fail-with-body --max-time 15 $1 --data-binary "SELECT '$2' AS marker, user FROM system.processes WHERE query LIKE '%$2%'"`, flags.stdout.trim(), marker);
    // Then the real server answered, as the grant's own user (nginx took it from the certificate; 18.16 has no
    // currentUser(): the query finds itself in system.processes)
    expect(answer.stderr, answer.stdout).toBe('');
    expect(answer.stdout).toBe(`${marker}\t${serverUserFor(requestId, identity)}\n`);
    // And a query that writes is refused by the server itself (no guard on this path: the read-only user holds)
    const write = await shell(`curl -sS --max-time 15 $1 --data-binary "CREATE TABLE default.x (a UInt8) ENGINE = Memory"`, flags.stdout.trim());
    expect(write.stdout).toMatch(/Code: (164|497)/);
  });

  it('a shell that evaluated the exports reaches the sandbox with them', async () => {
    const { identity, requestId } = await ws.approvedEngineer('env');
    const exports = await ws.as(identity, ['cert', 'env', 'sandbox']);
    expect(exports.exitCode, exports.stderr).toBe(0);
    const answer = await shell(
      'eval "$1"; curl -sS --fail-with-body --max-time 15 --cert "$BYOC_CERT_FILE" --key "$BYOC_KEY_FILE" --cacert "$BYOC_SERVER_CA_FILE" --resolve "$BYOC_RESOLVE" "$BYOC_CLICKHOUSE_URL" --data-binary "SELECT user FROM system.processes WHERE query LIKE \'%env-marker%\'"',
      exports.stdout,
    );
    expect(answer.stderr, answer.stdout).toBe('');
    expect(answer.stdout).toBe(`${serverUserFor(requestId, identity)}\n`);
  });

  it('byoc services lists the sandbox with its endpoints and the grant held', async () => {
    const { identity, requestId } = await ws.approvedEngineer('services');
    const listed = await ws.as(identity, ['services', '--json']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    const { services } = JSON.parse(listed.stdout) as { services: { name: string; origin: string; clickhouse: string; prometheus: string; grant: { requestId: string } | null }[] };
    const sandbox = services.find((entry) => entry.name === 'sandbox');
    expect(sandbox).toMatchObject({ origin: 'state', clickhouse: ws.up.nginx.url.replace(/\/$/, ''), grant: { requestId } });
    expect(sandbox!.prometheus).toContain(String(ws.up.nginx.metricsPort));
    // And someone without a grant sees the same service with none
    const other = await ws.as('nobody@vendor.example', ['services', '--json']);
    expect(JSON.parse(other.stdout).services.find((entry: { name: string }) => entry.name === 'sandbox').grant).toBeNull();
  });
});

/**
 * Tier 3 for streams and cancellation: the built binary against the real sandbox (ClickHouse 18.16 behind nginx
 * doing mutual TLS). What the engineer sees (exit code, stderr) and what the server still runs, read as the
 * customer from system.processes. One sandbox for the file; afterAll always takes it down.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { serverUserFor } from '../../src/access/server-user.js';
import { sandboxPaths } from '../../src/sandbox/layout.js';
import { startConnectProxy } from '../fakes/connect-proxy.js';
import { runCli } from '../fakes/context.js';
import { spawnByoc } from '../fakes/spawn-byoc.js';
import { sandboxTier, sandboxWorkspace } from './tier.js';

const available = sandboxTier('streams and cancellation integration tier');

describe.skipIf(!available)('byoc query streams and cancellation on the real sandbox', () => {
  const sandbox = sandboxWorkspace('streams');
  const { as, customer, clock } = sandbox;
  const spawnAs = (user: string | undefined, args: string[], closeStdoutAfterFirstChunk = false) =>
    spawnByoc(args, { cwd: sandbox.cwd, env: { BYOC_STATE_DIR: sandbox.stateDir, ...(user ? { BYOC_USER: user } : {}) }, closeStdoutAfterFirstChunk });

  /** An engineer of their own with an approved sandbox request and a certificate: tests stay independent. */
  const approvedEngineer = async (): Promise<{ identity: string; serverUser: string }> => {
    const { identity, requestId } = await sandbox.approvedEngineer('streams', 'streams');
    expect((await as(identity, ['cert', 'get', 'sandbox'])).exitCode).toBe(0);
    return { identity, serverUser: serverUserFor(requestId, identity) };
  };

  const runningFor = async (user: string) => (await customer(`SELECT query_id FROM system.processes WHERE user = '${user}' AND query NOT LIKE 'KILL QUERY%'`)).trim();
  /** Polls system.processes until `user` runs nothing; returns how long that took (or Infinity after `limitMs`). */
  const goneWithin = async (user: string, limitMs: number): Promise<number> => {
    const start = Date.now();
    while (Date.now() - start < limitMs) {
      if ((await runningFor(user)) === '') return Date.now() - start;
      await delay(50);
    }
    return Infinity;
  };
  const waitUntilRunning = async (user: string) => {
    for (let attempt = 0; attempt < 200; attempt++) {
      if ((await runningFor(user)) !== '') return;
      await delay(50);
    }
    throw new Error(`no query of ${user} ever ran`);
  };

  it('| head -1 ends byoc quietly with exit 0 in every streaming format, and the server stops the query', async () => {
    // Given an engineer and a result far longer than the reader wants
    const { identity, serverUser } = await approvedEngineer();
    for (const format of [[], ['--format', 'ndjson'], ['--format', 'csv'], ['--json']]) {
      // When stdout's reader goes away after the first chunk
      const spawned = spawnAs(identity, ['query', 'sandbox', 'SELECT number FROM system.numbers', '--max-rows', '0', ...format], true);
      const result = await spawned.exited;
      // Then exit 0, nothing on stderr, and within 2 s the server no longer runs the query
      expect(result, format.join(' ')).toMatchObject({ exitCode: 0, stderr: '' });
      expect(await spawned.firstChunk).not.toBe('');
      expect(await goneWithin(serverUser, 2000), format.join(' ')).toBeLessThan(2000);
    }
  }, 60_000);

  it('once the settings level 18.16 accepts is remembered, a query is exactly one HTTP request to nginx', async () => {
    // Given an engineer whose first query learned which settings the sandbox's 18.16 accepts
    const { identity } = await approvedEngineer();
    expect((await as(identity, ['query', 'sandbox', 'SELECT 1 FROM system.one'])).exitCode).toBe(0);
    const accessLog = sandboxPaths(sandbox.stateDir).nginx.accessLog;
    const requests = () => readFileSync(accessLog, 'utf8').split('\n').filter(Boolean);
    // nginx writes a request's line once it has sent the last byte, so a fast client can read the log before the
    // line is there: count once the log has stopped growing (100 ms unchanged, 2 s at most).
    const settled = async (atLeast: number) => {
      let count = requests().length;
      for (let waited = 0; waited < 2000; waited += 100) {
        await delay(100);
        const now = requests().length;
        if (now === count && now >= atLeast) break;
        count = now;
      }
      return requests().length;
    };
    const before = await settled(0);
    // When the next query runs
    const result = await as(identity, ['query', 'sandbox', 'SELECT 2 AS two FROM system.one']);
    // Then it answered, and nginx saw exactly one request for it, accepted
    expect(result, result.stderr).toMatchObject({ exitCode: 0, stdout: 'two\n2\n' });
    await settled(before + 1);
    const added = requests().slice(before);
    expect(added, added.join('\n')).toHaveLength(1);
    expect(added[0]).toMatch(/"POST \/\?query_id=byoc-[^ ]* HTTP\/1\.1" 200 /);
  });

  it("the customer's audit --queries --format ndjson | head -1 ends quietly with exit 0", async () => {
    const { identity } = await approvedEngineer();
    expect((await as(identity, ['query', 'sandbox', 'SELECT 1 FROM system.one'])).exitCode).toBe(0);
    const spawned = spawnAs(undefined, ['audit', 'query-log', 'sandbox', '--flush', '--since', '1h', '--queries', '--format', 'ndjson'], true);
    const result = await spawned.exited;
    expect(result).toMatchObject({ exitCode: 0, stderr: '' });
    expect(JSON.parse((await spawned.firstChunk).split('\n')[0]!)).toHaveProperty('queryId');
  }, 30_000);

  it('a FORMAT clause is sent as written and its bytes printed; another --format is a usage error', async () => {
    const { identity } = await approvedEngineer();
    const own = await as(identity, ['query', 'sandbox', 'SELECT 1 AS x FROM system.one FORMAT JSONEachRow']);
    expect(own, own.stderr).toMatchObject({ exitCode: 0, stdout: '{"x":1}\n' });
    const clash = await as(identity, ['query', 'sandbox', 'SELECT 1 AS x FROM system.one FORMAT JSONEachRow', '--format', 'csv']);
    expect(clash.exitCode).toBe(2);
    expect(clash.stderr).toContain('FORMAT JSONEachRow, but --format csv');
  });

  it('Ctrl-C on a long query exits 130 and leaves nothing in system.processes within 2 s', async () => {
    // Given a query that runs for a long time and prints nothing until it ends (18.16 has no cancel on close)
    const { identity, serverUser } = await approvedEngineer();
    const spawned = spawnAs(identity, ['query', 'sandbox', 'SELECT count() FROM system.numbers']);
    await waitUntilRunning(serverUser);
    // When the engineer presses Ctrl-C
    spawned.child.kill('SIGINT');
    const interruptedAt = Date.now();
    const result = await spawned.exited;
    // Then exit 130 within 2 s of the Ctrl-C, and by then the server no longer runs it (byoc waits for KILL QUERY SYNC)
    expect(result.exitCode, result.stderr).toBe(130);
    expect(Date.now() - interruptedAt).toBeLessThan(2000);
    expect(await runningFor(serverUser)).toBe('');
  }, 30_000);

  it('--timeout cancels the query on the server and says so (exit 5)', async () => {
    const { identity, serverUser } = await approvedEngineer();
    const result = await spawnAs(identity, ['query', 'sandbox', 'SELECT count() FROM system.numbers', '--timeout', '2s']).exited;
    expect(result.exitCode).toBe(5);
    expect(result.stderr).toContain('byoc cancelled it on the server');
    expect(await goneWithin(serverUser, 2000)).toBeLessThan(2000);
  }, 30_000);

  it('a proxy that refuses the CONNECT exits 6 naming its 403, the setting and nothing about the certificate', async () => {
    // Given an engineer whose network.proxy answers 403 to every CONNECT (a policy that refuses the target)
    const { identity } = await approvedEngineer();
    const proxy = await startConnectProxy({}, { refuse: { status: 403, reason: 'Forbidden' } });
    try {
      // When she queries the sandbox through it
      const result = await runCli(['query', 'sandbox', 'SELECT 1 FROM system.one'], { cwd: sandbox.cwd, clock, env: { BYOC_STATE_DIR: sandbox.stateDir, BYOC_USER: identity, BYOC_PROXY: proxy.url } });
      // Then the network path is blamed (exit 6), with the proxy's answer and the setting to fix
      expect(result.exitCode, result.stderr).toBe(6);
      expect(result.stderr).toContain('403 Forbidden');
      expect(result.stderr).toContain('network.proxy');
      expect(result.stderr).not.toMatch(/your certificate/i);
      expect(proxy.targets.some((target) => target.startsWith('ch.sandbox.byoc.internal:') || target.startsWith('127.0.0.1:'))).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});

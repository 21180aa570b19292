import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findSandboxBinaries, sandboxDown, sandboxStatus, sandboxUp, upResult, type SandboxHost, type SandboxState } from '../../../src/sandbox/sandbox.js';
import type { RunResult, SandboxSystem } from '../../../src/sandbox/system.js';
import { FakeClock, runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';

/** A system where nothing runs; it records what would have been run. */
function fakeSystem(isRoot: boolean, exitCode = 0) {
  const runs: { command: string; args: readonly string[]; env: Record<string, string | undefined> }[] = [];
  const system: SandboxSystem = {
    isRoot,
    spawnDetached: async () => {
      throw new Error('nothing may be started in this test');
    },
    run: async (command, args, options): Promise<RunResult> => {
      runs.push({ command, args, env: { ...options.env } });
      return { exitCode, stdout: '', stderr: exitCode ? 'E: Unable to locate package' : '', notFound: false, timedOut: false };
    },
    isAlive: () => false,
    kill: () => {},
    children: () => [],
    processTitle: () => undefined,
  };
  return { system, runs };
}

function host(system: SandboxSystem, env: Record<string, string> = {}): SandboxHost {
  return { env, clock: new FakeClock(), system };
}

const notAsked = async (): Promise<never> => {
  throw new Error('the broker is not asked in these tests');
};
const noBroker = { ca: notAsked, crl: notAsked };
const missing = { authority: noBroker, clickhouseBin: '/nonexistent/clickhouse-server', nginxBin: '/nonexistent/nginx' };

describe('sandbox up without the binaries', () => {
  it('fails with a configuration error naming the Debian packages and the install command', async () => {
    // Given binaries that do not exist
    const { system } = fakeSystem(false);
    // When up runs / Then exit 3, and the hint says how to install them
    const failure = sandboxUp(tempDir(), host(system), missing);
    await expect(failure).rejects.toMatchObject({ code: 'sandbox_binaries_missing', exitCode: 3 });
    await expect(failure).rejects.toMatchObject({ hint: expect.stringContaining('apt-get update && apt-get install -y clickhouse-server nginx-light') });
    await expect(failure).rejects.toThrow(/\/nonexistent\/clickhouse-server and \/nonexistent\/nginx/);
  });

  it('with --install as root runs apt-get update, then apt-get install, non-interactively', async () => {
    // Given root and an apt-get on PATH (a stand-in: the fake system never executes it)
    const bin = tempDir({ 'apt-get': '#!/bin/sh\nexit 0\n' });
    chmodSync(path.join(bin, 'apt-get'), 0o755);
    const { system, runs } = fakeSystem(true);
    // When up runs with install (the packages still do not provide the binaries here)
    await expect(sandboxUp(tempDir(), host(system, { PATH: bin }), { ...missing, install: true })).rejects.toMatchObject({ code: 'sandbox_binaries_missing' });
    // Then apt-get ran twice, update first
    expect(runs.map((run) => [run.command, ...run.args])).toEqual([
      [path.join(bin, 'apt-get'), 'update'],
      [path.join(bin, 'apt-get'), 'install', '-y', '--no-install-recommends', 'clickhouse-server', 'nginx-light', 'prometheus', 'prometheus-node-exporter'],
    ]);
    expect(runs[0]!.env.DEBIAN_FRONTEND).toBe('noninteractive');
  });

  it('with --install but not root refuses before running anything', async () => {
    // Given a non-root user
    const { system, runs } = fakeSystem(false);
    // When / Then
    await expect(sandboxUp(tempDir(), host(system), { ...missing, install: true })).rejects.toMatchObject({ code: 'sandbox_install_unavailable', exitCode: 3 });
    expect(runs).toEqual([]);
  });

  it('reports a failed apt-get as a remote failure with its output', async () => {
    const bin = tempDir({ 'apt-get': '' });
    chmodSync(path.join(bin, 'apt-get'), 0o755);
    const { system } = fakeSystem(true, 100);
    await expect(sandboxUp(tempDir(), host(system, { PATH: bin }), { ...missing, install: true })).rejects.toMatchObject({
      code: 'sandbox_install_failed',
      exitCode: 5,
      message: expect.stringContaining('Unable to locate package'),
    });
  });
});

describe('finding the binaries', () => {
  it('takes an explicit path as is and looks names up on PATH', () => {
    // Given a folder on PATH holding an executable nginx
    const bin = tempDir({ nginx: '' });
    chmodSync(path.join(bin, 'nginx'), 0o755);
    // When / Then
    const found = findSandboxBinaries({ PATH: bin }, { clickhouse: '/nonexistent/ch', prometheus: '/nonexistent/prometheus' });
    expect(found).toMatchObject({ clickhouse: undefined, nginx: path.join(bin, 'nginx'), prometheus: undefined });
  });
});

describe('a sandbox that was never started', () => {
  it('has a status saying so, and down stops nothing', async () => {
    // Given an empty state folder
    const stateDir = tempDir();
    const { system } = fakeSystem(false);
    // When
    const status = await sandboxStatus(stateDir, host(system));
    const down = await sandboxDown(stateDir, host(system));
    // Then
    expect(status).toMatchObject({ configured: false, up: false, registered: false, clickhouse: { running: false, healthy: false }, nginx: { running: false, healthy: false } });
    expect(status.paths.root).toBe(path.join(stateDir, 'sandbox'));
    expect(down).toMatchObject({ clickhouse: { wasRunning: false }, nginx: { wasRunning: false }, unregistered: false, purged: false });
  });
});

describe('the --json names of up and status', () => {
  const state: SandboxState = {
    version: 1,
    createdAt: '2026-11-21T10:00:00.000Z',
    clickhouse: { bin: '/usr/bin/clickhouse-server', httpPort: 18123, tcpPort: 19000 },
    nginx: { bin: '/usr/sbin/nginx', port: 18443, metricsPort: 19443 },
    prometheus: { bin: '/usr/bin/prometheus', port: 19090 },
    nodeExporter: { bin: '/usr/bin/prometheus-node-exporter', port: 19100 },
  };
  const engineers = 'https://ch.sandbox.byoc.internal:18443';
  const own = 'http://127.0.0.1:18123';

  it('up: nginx.url is what engineers use, clickhouse.httpUrl is ClickHouse itself; clickhouse.url stays the engineer URL (deprecated alias)', () => {
    const result = upResult('/state', state as Parameters<typeof upResult>[1], { clickhouse: 101, nginx: 102, prometheus: 103, nodeExporter: 104 }, '/state/broker/ca/ca.crt', false);
    expect(result.nginx).toEqual({ url: engineers, port: 18443, pid: 102, metricsUrl: 'https://ch.sandbox.byoc.internal:19443', metricsPort: 19443 });
    expect(result.prometheus).toEqual({ url: 'http://127.0.0.1:19090', port: 19090, pid: 103 });
    expect(result.clickhouse).toEqual({ httpUrl: own, httpPort: 18123, tcpPort: 19000, pid: 101, url: engineers });
    expect(result.customer.url).toBe(own);
  });

  it('status: the same names mean the same things; clickhouse.url stays ClickHouse itself (deprecated alias)', async () => {
    // Given a sandbox that was set up once and is not running now
    const stateDir = tempDir();
    mkdirSync(path.join(stateDir, 'sandbox'), { recursive: true });
    writeFileSync(path.join(stateDir, 'sandbox', 'sandbox.json'), JSON.stringify(state));
    // When its status is asked for as JSON
    const result = await runCli(['sandbox', 'status', '--json'], { cwd: tempDir(), env: { BYOC_STATE_DIR: stateDir } });
    // Then nginx.url is the engineers' endpoint and clickhouse.httpUrl ClickHouse's own, as in up
    expect(result.exitCode).toBe(0);
    const status = JSON.parse(result.stdout);
    expect(status.nginx).toMatchObject({ url: engineers, port: 18443, running: false });
    expect(status.clickhouse).toMatchObject({ httpUrl: own, httpPort: 18123, tcpPort: 19000, running: false, url: own });
    // And the text rows use the new names
    const text = await runCli(['sandbox', 'status'], { cwd: tempDir(), env: { BYOC_STATE_DIR: stateDir } });
    expect(text.stdout).toContain(`clickhouse.httpUrl\t${own}\n`);
    expect(text.stdout).toContain(`nginx.url\t${engineers}\n`);
    expect(text.stdout).not.toMatch(/^clickhouse\.url\t/m);
  });
});

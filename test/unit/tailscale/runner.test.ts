import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAbort, RemoteError } from '../../../src/errors.js';
import { checkTailscalePaths } from '../../../src/tailscale/check.js';
import { createExecaRunner, TailscaleNotInstalledError, TailscaleTimeoutError } from '../../../src/tailscale/runner.js';
import { tempDir } from '../../fakes/fs.js';
import { FAKE_TAILSCALE_BIN, fakeTailscaleEnv, tailscaleFixture, TAILSCALE_SCENARIOS, writeScenario } from '../../fakes/tailscale/index.js';

// These tests spawn the fake `tailscale` (test/fakes/tailscale) as a real subprocess found on PATH.

describe('createExecaRunner against the fake tailscale', () => {
  it('finds `tailscale` on PATH and returns stdout, stderr and exit code 0', async () => {
    // Given the fake on PATH replaying the direct status with a skew warning
    const dir = tempDir();
    const scenario = writeScenario(dir, {
      commands: [{ match: '^status --json$', stdoutFile: 'status-direct.json', stderrFile: 'version-skew.stderr.txt', exitCode: 0 }],
    });
    const runner = createExecaRunner({ env: fakeTailscaleEnv(scenario) });
    // When status is run
    const result = await runner.run(['status', '--json']);
    // Then the bytes come back
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout).BackendState).toBe('Running');
    expect(result.stderr).toMatch(/^Warning: client version/);
  });

  it('returns a non-zero exit with its stderr instead of throwing', async () => {
    // Given the daemon-not-running scenario
    const runner = createExecaRunner({ env: fakeTailscaleEnv(path.join(TAILSCALE_SCENARIOS, 'daemon-not-running.json')) });
    // When status is run
    const result = await runner.run(['status', '--json']);
    // Then the exit code and stderr are returned
    expect(result).toEqual({ stdout: '', stderr: tailscaleFixture('daemon-not-running-linux.stderr.txt').trimEnd(), exitCode: 1 });
  });

  it('passes arguments through unchanged and uses a configured binary path', async () => {
    // Given an explicit bin path (PATH has no tailscale) and a call log
    const dir = tempDir();
    const log = path.join(dir, 'calls.ndjson');
    const scenario = writeScenario(dir, { commands: [{ argv: ['ping', '-c', '1', '--timeout', '3s', '100.101.23.45'], stdout: 'pong\n' }] });
    const env = { ...fakeTailscaleEnv(scenario, { FAKE_TAILSCALE_LOG: log }), PATH: '/usr/bin:/bin' };
    const runner = createExecaRunner({ bin: FAKE_TAILSCALE_BIN, env });
    // When ping is run
    const result = await runner.run(['ping', '-c', '1', '--timeout', '3s', '100.101.23.45']);
    // Then the exact argv reached the binary
    expect(result.stdout).toBe('pong');
    expect(JSON.parse(readFileSync(log, 'utf8').trim()).argv).toEqual(['ping', '-c', '1', '--timeout', '3s', '100.101.23.45']);
  });

  it('throws TailscaleNotInstalledError when the binary is not on PATH', async () => {
    // Given a PATH without tailscale
    const runner = createExecaRunner({ env: { PATH: tempDir() } });
    // When anything is run
    const error = await runner.run(['status', '--json']).catch((caught: unknown) => caught);
    // Then it is the typed not-installed error with a hint
    expect(error).toBeInstanceOf(TailscaleNotInstalledError);
    expect((error as TailscaleNotInstalledError).bin).toBe('tailscale');
    expect((error as TailscaleNotInstalledError).hint).toContain('BYOC_TAILSCALE_BIN');
  });

  it('throws TailscaleNotInstalledError for a configured path that does not exist', async () => {
    // Given a bin path that is missing
    const runner = createExecaRunner({ bin: path.join(tempDir(), 'tailscale'), env: { PATH: '/usr/bin:/bin' } });
    // Then it is not installed
    await expect(runner.run(['version'])).rejects.toBeInstanceOf(TailscaleNotInstalledError);
  });

  it('kills a command at its timeout and keeps what it printed', async () => {
    // Given a ping that prints one pong and then hangs
    const dir = tempDir();
    const scenario = writeScenario(dir, {
      commands: [{ match: '^ping', earlyStdout: 'pong from ch (100.101.23.45) via DERP(nyc) in 30ms\n', delayMs: 10_000 }],
    });
    const runner = createExecaRunner({ env: fakeTailscaleEnv(scenario), timeoutMs: 60_000 });
    // When run with a per-call timeout shorter than the hang
    const started = performance.now();
    const error = await runner.run(['ping', 'ch'], { timeoutMs: 700 }).catch((caught: unknown) => caught);
    // Then a TailscaleTimeoutError comes back promptly with the partial output
    expect(error).toBeInstanceOf(TailscaleTimeoutError);
    expect((error as TailscaleTimeoutError).timeoutMs).toBe(700);
    expect((error as TailscaleTimeoutError).partial.stdout).toContain('via DERP(nyc)');
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('rejects as an abort when the signal fires', async () => {
    // Given a hanging command and an abort after 300 ms
    const dir = tempDir();
    const scenario = writeScenario(dir, { commands: [{ match: '^netcheck', delayMs: 10_000 }] });
    const runner = createExecaRunner({ env: fakeTailscaleEnv(scenario) });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    // When run
    const error = await runner.run(['netcheck', '--format=json'], { signal: controller.signal }).catch((caught: unknown) => caught);
    // Then it is an abort, not a timeout
    expect(isAbort(error)).toBe(true);
  });

  it('reports a binary that cannot be executed as a RemoteError', async () => {
    // Given a bin that exists but is not executable
    const dir = tempDir({ tailscale: 'not a program' });
    const runner = createExecaRunner({ bin: path.join(dir, 'tailscale'), env: { PATH: '/usr/bin:/bin' } });
    // When run
    const error = await runner.run(['status']).catch((caught: unknown) => caught);
    // Then it is a typed error that is neither not-installed nor a timeout
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).not.toBeInstanceOf(TailscaleTimeoutError);
  });
});

describe('checkTailscalePaths through the fake tailscale subprocess', () => {
  const HOSTS = [
    { name: 'clickhouse', host: 'ch.abc123.us-east-1.aws.byoc.example.com' },
    { name: 'kubernetes', host: 'k8s.abc123.us-east-1.aws.byoc.example.com' },
  ];

  it.each([
    ['direct.json', 'direct'],
    ['derp.json', 'relayed'],
    ['peer-relay.json', 'relayed'],
    ['offline.json', 'unreachable'],
    ['needs-login.json', 'tailscale-down'],
    ['stopped.json', 'tailscale-down'],
    ['daemon-not-running.json', 'tailscale-down'],
  ])('scenario %s gives the verdict %s', async (file, verdict) => {
    // Given a recorded scenario replayed by the fake on PATH
    const runner = createExecaRunner({ env: fakeTailscaleEnv(path.join(TAILSCALE_SCENARIOS, file)) });
    // When the paths are checked
    const result = await checkTailscalePaths({ runner, hosts: HOSTS });
    // Then the verdict matches the scenario
    expect(result.verdict).toBe(verdict);
  });

  it('gives tailscale-down with the install step when tailscale is not installed', async () => {
    // Given no tailscale on PATH
    const runner = createExecaRunner({ env: { PATH: tempDir() } });
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: HOSTS });
    // Then tailscale is down, not installed
    expect(result.verdict).toBe('tailscale-down');
    expect(result.state.state).toBe('not-installed');
  });
});

describe('checkTailscalePaths against the fake tailscale on PATH (issue #14 misses)', () => {
  it('reports tailscale-down when the real CLI’s ping prints `Tailscale is stopped.` after a direct status', async () => {
    // Given the fake replaying a direct status, a failing derp-map, and `Tailscale is stopped.` for every ping
    const dir = tempDir();
    const scenario = writeScenario(dir, {
      commands: [
        { match: '^status --json$', stdoutFile: 'status-direct.json' },
        { match: '^netcheck --format=json$', stdoutFile: 'netcheck-good.json', stderr: '# Warning: this JSON format is not yet considered a stable interface\n' },
        { match: '^debug derp-map$', stderr: 'failed to get local derp map\n', exitCode: 1 },
        { match: '^ping ', stdoutFile: 'ping-stopped.txt', exitCode: 1 },
      ],
    });
    const runner = createExecaRunner({ env: fakeTailscaleEnv(scenario) });
    // When checked through real subprocesses
    const result = await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: 'ch.abc123.us-east-1.aws.byoc.example.com' }] });
    // Then the ping's word wins, with the next step, and the DERP map fell back to the static table
    expect(result.verdict).toBe('tailscale-down');
    expect(result.state).toMatchObject({ up: false, state: 'Stopped', nextStep: expect.stringContaining('tailscale up') });
    expect(result.derpMap).toMatchObject({ source: 'static', error: 'tailscale debug derp-map exited with 1: failed to get local derp map' });
  });

  it('names region 27 from the running tailscale’s DERP map', async () => {
    // Given the fake printing a DERP map with iad (27) and DERP(iad) pongs
    const dir = tempDir();
    const derpMap = JSON.stringify({ Regions: { '1': { RegionID: 1, RegionCode: 'nyc', RegionName: 'New York City' }, '27': { RegionID: 27, RegionCode: 'iad', RegionName: 'Ashburn' } } }, null, '\t');
    const netcheck = JSON.parse(tailscaleFixture('netcheck-good.json')) as Record<string, unknown>;
    netcheck.RegionLatency = { '1': 9_100_000, '27': 3_400_000 };
    netcheck.PreferredDERP = 27;
    const scenario = writeScenario(dir, {
      commands: [
        { match: '^status --json$', stdoutFile: 'status-derp.json' },
        { match: '^netcheck --format=json$', stdout: JSON.stringify(netcheck) },
        { match: '^debug derp-map$', stdout: `${derpMap}\n` },
        { match: '^ping ', stdout: 'pong from ch (100.101.23.45) via DERP(iad) in 31ms\n'.repeat(3), stderr: 'direct connection not established\n', exitCode: 1 },
      ],
    });
    const runner = createExecaRunner({ env: fakeTailscaleEnv(scenario) });
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: 'ch.abc123.us-east-1.aws.byoc.example.com' }] });
    // Then the pong's region is netcheck's region 27
    expect(result.verdict).toBe('relayed');
    expect(result.derpMap).toEqual({ source: 'tailscale', regions: 2, error: null });
    expect(result.targets[0]?.advice.join('\n')).toContain('DERP region iad is 3.4 ms from here, the nearest region.');
  });
});

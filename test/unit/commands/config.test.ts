import { describe, expect, it } from 'vitest';
import { runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';

describe('byoc config show', () => {
  const dir = () => tempDir({ 'byoc.config.yaml': 'user: file@vendor.example\nservices:\n  acme-prod:\n    clickhouse: { url: "https://ch.example:8443" }\n' });

  it('--json lists every value with its source and origin', async () => {
    // Given a file, an environment variable and a flag
    const cwd = dir();
    const result = await runCli(['config', 'show', '--json'], { cwd, env: { BYOC_BROKER_URL: 'https://broker.example' } });
    // Then each value says where it came from
    expect(result.exitCode).toBe(0);
    const document = JSON.parse(result.stdout);
    expect(document.configFile).toBe(`${cwd}/byoc.config.yaml`);
    const byKey = Object.fromEntries(document.values.map((entry: { key: string }) => [entry.key, entry]));
    expect(byKey['output.json']).toEqual({ key: 'output.json', value: true, source: 'flag', origin: '--json' });
    expect(byKey['broker.url']).toEqual({ key: 'broker.url', value: 'https://broker.example', source: 'env', origin: 'BYOC_BROKER_URL' });
    expect(byKey['user']).toMatchObject({ value: 'file@vendor.example', source: 'file', origin: `${cwd}/byoc.config.yaml` });
    expect(byKey['services.acme-prod.clickhouse.url']).toMatchObject({ value: 'https://ch.example:8443', source: 'file' });
    expect(byKey['policy.maxDuration']).toEqual({ key: 'policy.maxDuration', value: '8h', source: 'default' });
  });

  it('prints tab-separated key, value, source, origin when piped', async () => {
    const cwd = dir();
    const result = await runCli(['config', 'show'], { cwd });
    expect(result.stdout.split('\n')).toContain(`user\tfile@vendor.example\tfile\t${cwd}/byoc.config.yaml`);
    expect(result.stdout.split('\n')).toContain('policy.approvals\t1\tdefault\t');
    expect(result.stdout).not.toContain('\u001b[');
  });

  it('shows a table with the file on a TTY', async () => {
    const cwd = dir();
    const result = await runCli(['config', 'show'], { cwd, stdoutTTY: true });
    expect(result.stdout).toContain(`config file ${cwd}/byoc.config.yaml`);
    expect(result.stdout).toMatch(/KEY\s+VALUE\s+SOURCE/);
    expect(result.stdout).toMatch(/broker\.url\s+-\s+unset/);
  });

  it('reads the state folder from BYOC_STATE_DIR, else XDG_STATE_HOME', async () => {
    const explicit = await runCli(['config', 'show', '--json'], { cwd: tempDir(), env: { BYOC_STATE_DIR: '/srv/byoc-state' } });
    expect(JSON.parse(explicit.stdout).stateDir).toBe('/srv/byoc-state');
    const xdg = await runCli(['config', 'show', '--json'], { cwd: tempDir(), env: { XDG_STATE_HOME: '/var/xdg' } });
    expect(JSON.parse(xdg.stdout).stateDir).toBe('/var/xdg/byoc');
  });

  it('reads --config FILE and BYOC_CONFIG', async () => {
    const cwd = tempDir({ 'alt.yaml': 'user: alt@x\n' });
    const viaFlag = await runCli(['config', 'show', '--json', '--config', 'alt.yaml'], { cwd });
    expect(JSON.parse(viaFlag.stdout).configFile).toBe(`${cwd}/alt.yaml`);
    const viaEnv = await runCli(['config', 'show', '--json'], { cwd, env: { BYOC_CONFIG: `${cwd}/alt.yaml` } });
    expect(JSON.parse(viaEnv.stdout).configFile).toBe(`${cwd}/alt.yaml`);
  });
});

describe('byoc config validate', () => {
  it('accepts a valid file', async () => {
    const cwd = tempDir({ 'ok.yaml': 'user: a@x\n' });
    const result = await runCli(['config', 'validate', 'ok.yaml', '--json'], { cwd });
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ file: `${cwd}/ok.yaml`, valid: true });
  });

  it('exits 3 naming the file, each key path and what was expected', async () => {
    const cwd = tempDir({ 'bad.yaml': 'network:\n  proxy: ftp://nope\nservices:\n  acme:\n    clickhouse: { url: 42 }\n' });
    const result = await runCli(['config', 'validate', 'bad.yaml'], { cwd });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(`invalid configuration in ${cwd}/bad.yaml`);
    expect(result.stderr).toContain('line 2: network.proxy: expected a URL starting with socks5://, socks5h://, http://, https://; got "ftp://nope"');
    expect(result.stderr).toMatch(/services\.acme\.clickhouse\.url: .*expected string/);
  });

  it('says when there is no file to validate', async () => {
    const result = await runCli(['config', 'validate'], { cwd: tempDir() });
    expect(result).toMatchObject({ exitCode: 0, stdout: 'no configuration file found: defaults and environment apply\n' });
  });
});

describe('byoc help exit-codes', () => {
  it('lists the code table as JSON', async () => {
    const result = await runCli(['help', 'exit-codes', '--json']);
    expect(JSON.parse(result.stdout).exitCodes.map((entry: { code: number }) => entry.code)).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 130]);
  });

  it('prints code, name and meaning tab-separated when piped, and a table on a TTY', async () => {
    expect((await runCli(['help', 'exit-codes'])).stdout).toContain('6\tnetwork\tnetwork path');
    expect((await runCli(['help', 'exit-codes'], { stdoutTTY: true })).stdout).toMatch(/CODE\s+NAME\s+MEANING\n0\s+ok/);
  });
});

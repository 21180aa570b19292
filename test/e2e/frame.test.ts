import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../fakes/fs.js';
import { byoc } from './helpers.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));

describe('bin/byoc.js end to end', () => {
  it('--version prints the package version', async () => {
    expect(await byoc(['--version'])).toEqual({ exitCode: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('--help lists commands and examples on stdout', async () => {
    const result = await byoc(['--help']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('Usage: byoc [options] [command]');
    expect(result.stdout).toContain('config');
    expect(result.stdout).toContain('Examples:');
    expect(result.stderr).toBe('');
  });

  it('a bad flag exits 2 with the reason on stderr', async () => {
    const result = await byoc(['config', 'show', '--frobnicate']);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("unknown option '--frobnicate'");
  });

  it('an invalid configuration exits 3, naming file and key, as JSON under --json', async () => {
    const cwd = tempDir({ 'byoc.config.yaml': 'services:\n  acme:\n    clickhouse: { url: not-a-url }\n' });
    const result = await byoc(['config', 'show', '--json'], { cwd });
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe('');
    const { error } = JSON.parse(result.stderr);
    expect(error.code).toBe('config_invalid');
    expect(error.message).toContain(`${cwd}/byoc.config.yaml`);
    expect(error.message).toContain('services.acme.clickhouse.url: expected an http:// or https:// URL');
  });

  it('config show --json reports values with their sources', async () => {
    const cwd = tempDir({ '.byocrc.yaml': 'user: alice@vendor.example\n' });
    const result = await byoc(['config', 'show', '--json'], { cwd, env: { BYOC_PROXY: 'socks5h://127.0.0.1:1055' } });
    expect(result.exitCode).toBe(0);
    const values = JSON.parse(result.stdout).values;
    expect(values).toContainEqual({ key: 'user', value: 'alice@vendor.example', source: 'file', origin: `${cwd}/.byocrc.yaml` });
    expect(values).toContainEqual({ key: 'network.proxy', value: 'socks5h://127.0.0.1:1055', source: 'env', origin: 'BYOC_PROXY' });
  });

  it('help exit-codes documents every code', async () => {
    const result = await byoc(['help', 'exit-codes']);
    expect(result.exitCode).toBe(0);
    for (const code of [0, 1, 2, 3, 4, 5, 6, 8, 130]) expect(result.stdout).toMatch(new RegExp(`^${code}\\t`, 'm'));
  });

  it('an unknown option on a group exits 2, and a missing --config file exits 3 even for a command that never reads it', async () => {
    const group = await byoc(['access', '--nope']);
    expect(group).toMatchObject({ exitCode: 2, stdout: '' });
    expect(group.stderr).toContain("hint: Run 'byoc access --help' for usage.");
    const missing = await byoc(['--config', '/nonexistent.yaml', 'cert', 'list']);
    expect(missing).toMatchObject({ exitCode: 3, stdout: '' });
    expect(missing.stderr).toContain('configuration file /nonexistent.yaml (from --config) does not exist');
  });

  it('an unknown command suggests the closest one', async () => {
    const result = await byoc(['confg']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('Did you mean config?');
  });
});

import { describe, expect, it } from 'vitest';
import { runCli } from '../fakes/context.js';
import { tempDir } from '../fakes/fs.js';

describe('main maps errors to exit codes', () => {
  it('exits 2 on an unknown flag, with a hint to --help', async () => {
    const result = await runCli(['config', 'show', '--bogus']);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("error: unknown option '--bogus'");
    expect(result.stderr).toContain("hint: Run 'byoc config show --help' for usage.");
  });

  it('suggests the closest command for a typo (exit 2)', async () => {
    const result = await runCli(['config', 'shwo']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('(Did you mean show?)');
  });

  it('refuses a bad argument choice with exit 2', async () => {
    const result = await runCli(['completion', 'powershell']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('powershell');
  });

  it('exits 3 on an invalid configuration file, naming the file and the key', async () => {
    const dir = tempDir({ 'byoc.config.yaml': 'broker:\n  ulr: https://x\n' });
    const result = await runCli(['config', 'show'], { cwd: dir });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(`invalid configuration in ${dir}/byoc.config.yaml`);
    expect(result.stderr).toContain('broker.ulr: unknown key (did you mean "url"?); expected one of: url');
  });

  it('under --json keeps stdout empty and writes one error document on stderr', async () => {
    const dir = tempDir({ 'byoc.config.yaml': 'policy:\n  approvals: zero\n' });
    const result = await runCli(['config', 'show', '--json'], { cwd: dir });
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe('');
    const document = JSON.parse(result.stderr);
    expect(document.error.code).toBe('config_invalid');
    expect(document.error.message).toContain('policy.approvals');
    expect(document.error.hint).toContain('byoc config validate');
  });

  it('treats BYOC_JSON=1 like --json, even for usage errors', async () => {
    const result = await runCli(['nope'], { env: { BYOC_JSON: '1' } });
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stderr).error.code).toBe('unknown_command');
  });

  it('exits 0 and prints help on stdout for a bare group, `help` and `help <command>`', async () => {
    for (const argv of [['config'], ['help'], ['help', 'config', 'show'], []]) {
      const result = await runCli(argv);
      expect(result.exitCode, argv.join(' ')).toBe(0);
      expect(result.stdout, argv.join(' ')).toContain('Usage: byoc');
      expect(result.stderr).toBe('');
    }
    expect((await runCli(['help', 'config', 'show'])).stdout).toContain('Usage: byoc config show');
  });

  it('prints the version', async () => {
    const result = await runCli(['--version']);
    expect(result).toMatchObject({ exitCode: 0, stdout: '0.0.0-test\n' });
  });

  it('accepts global flags after the command', async () => {
    const result = await runCli(['help', 'exit-codes', '--json']);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout).exitCodes).toContainEqual({ code: 8, name: 'pending', meaning: expect.any(String) });
  });
});

describe('global options before the command', () => {
  it('runs the command when --config FILE comes first', async () => {
    const cwd = tempDir({ 'alt.yaml': 'user: alt@x\n' });
    const result = await runCli(['--config', 'alt.yaml', 'config', 'show', '--json'], { cwd });
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout).configFile).toBe(`${cwd}/alt.yaml`);
  });
});

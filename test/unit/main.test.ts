import { describe, expect, it } from 'vitest';
import { groups } from '../../commands/index.js';
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
    // (the broker section's keys grow with features: the list is checked to hold url, not to be exactly one list)
    expect(result.stderr).toMatch(/broker\.ulr: unknown key \(did you mean "url"\?\); expected one of: (\w+, )*url\b/);
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

describe('the frame behaves the same on every command group', () => {
  const groupPaths = ['', 'query', 'access', 'cert', 'sandbox', 'config', 'connect', 'k8s', 'audit', 'broker', 'broker token', 'metrics', 'proxy', 'help'];

  it('covers every group of the manifest', () => {
    for (const group of Object.keys(groups)) expect(groupPaths).toContain(group);
  });

  it.each(groupPaths)('`byoc %s --nope` exits 2 with one line and a hint naming the group\'s help', async (group) => {
    // Given an option no group knows
    const words = group ? group.split(' ') : [];
    // When it follows the group
    const result = await runCli([...words, '--nope']);
    // Then it is a usage error, not the help on stdout
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`error: unknown option '--nope'\nhint: Run 'byoc ${group ? `${group} ` : ''}--help' for usage.\n`);
  });

  it('still prints a group\'s help (exit 0) when only global options follow it', async () => {
    const result = await runCli(['access', '--json']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('Usage: byoc access');
  });

  it('`byoc help nosuch` exits 2 naming the topics and the commands, with the closest guess', async () => {
    const result = await runCli(['help', 'nosuch']);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('error: no help topic or command named "nosuch"');
    expect(result.stderr).toContain('Topics: exit-codes. Commands: access, cert, broker');
    expect((await runCli(['help', 'acess'])).stderr).toContain('Did you mean "byoc help access"?');
    const nested = await runCli(['help', 'access', 'nosuch']);
    expect(nested.exitCode).toBe(2);
    expect(nested.stderr).toContain('byoc access has no command named "nosuch"');
    expect(nested.stderr).toContain('Its commands: request, list, show');
  });
});

describe('every command reads the configuration', () => {
  it.each([['--config', '/nonexistent.yaml', 'cert', 'list'], ['--config', '/nonexistent.yaml', 'help', 'exit-codes'], ['completion', 'bash', '--config=/nonexistent.yaml']])(
    '`byoc %s %s %s %s` exits 3 naming the missing file',
    async (...argv) => {
      const result = await runCli(argv);
      expect(result.exitCode).toBe(3);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('error: configuration file /nonexistent.yaml (from --config) does not exist');
    },
  );

  it('BYOC_CONFIG naming a missing file exits 3 too, naming the variable', async () => {
    const result = await runCli(['cert', 'list'], { env: { BYOC_CONFIG: '/nonexistent.yaml' } });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('configuration file /nonexistent.yaml (from BYOC_CONFIG) does not exist');
  });

  it('an invalid --config file exits 3 naming the file, the line, the key and what was expected, whatever the command', async () => {
    // Given a file with a bad value on line 3
    const cwd = tempDir({ 'bad.yaml': 'user: a@x\nquery:\n  maxRows: -1\n' });
    // When a command that never reads query.maxRows runs with it
    const result = await runCli(['--config', 'bad.yaml', 'help', 'exit-codes'], { cwd });
    // Then it is refused before it runs
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`invalid configuration in ${cwd}/bad.yaml:\n  line 3: query.maxRows: expected a whole number of at least 0; got -1`);
    expect(result.stderr).toContain(`hint: Fix the key(s) above, then check with: byoc config validate ${cwd}/bad.yaml`);
  });

  it('`config validate FILE` prints the YAML parser\'s line, column and reason', async () => {
    const cwd = tempDir({ 'broken.yaml': 'user: a@x\nbroker:\n  url: [x\n' });
    const result = await runCli(['config', 'validate', 'broken.yaml'], { cwd });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(`error: cannot read configuration ${cwd}/broken.yaml: line 4, column 1: unexpected end of the stream within a flow collection`);
  });

  it('`config validate FILE` checks FILE even when the folder holds a broken configuration', async () => {
    const cwd = tempDir({ 'byoc.config.yaml': 'nope: 1\n', 'ok.yaml': 'user: a@x\n' });
    const result = await runCli(['config', 'validate', 'ok.yaml'], { cwd });
    expect(result).toMatchObject({ exitCode: 0, stdout: `${cwd}/ok.yaml: valid\n` });
  });
});

describe('output settings go through the same resolver', () => {
  it('`output: { json: true }` in the file makes the output JSON', async () => {
    const cwd = tempDir({ 'byoc.config.yaml': 'output:\n  json: true\n' });
    const result = await runCli(['help', 'exit-codes'], { cwd });
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout).exitCodes).toHaveLength(9);
  });

  it('and errors then print as JSON on stderr', async () => {
    const cwd = tempDir({ 'byoc.config.yaml': 'output:\n  json: true\n' });
    const result = await runCli(['query', '--check', 'DROP TABLE system.one'], { cwd });
    expect(result.exitCode).toBe(4);
    expect(JSON.parse(result.stderr).error.code).toBe('query_refused');
  });

  it('BYOC_JSON=maybe is an error (exit 3) naming the variable, not ignored', async () => {
    const result = await runCli(['help', 'exit-codes'], { env: { BYOC_JSON: 'maybe' } });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toBe('error: BYOC_JSON: expected true or false; got "maybe"\nhint: Set BYOC_JSON to true or false, or unset it (it overrides output.json in the configuration file).\n');
  });

  const refused = ['query', '--check', 'DROP TABLE system.one'];
  const RED = '\u001b[31merror:\u001b[39m';

  it('colours error: and hint: on a terminal by default', async () => {
    const result = await runCli(refused, { stderrTTY: true });
    expect(result.stderr.startsWith(RED)).toBe(true);
    expect(result.stderr).toContain('\u001b[2mhint:\u001b[22m');
  });

  it.each([
    ['--no-color', { argv: ['--no-color'] }],
    ['BYOC_COLOR=false', { env: { BYOC_COLOR: 'false' } }],
    ['NO_COLOR=1', { env: { NO_COLOR: '1' } }],
    ['output.color: false in the file', { file: 'output:\n  color: false\n' }],
  ] as const)('%s keeps error and hint colourless', async (_label, how) => {
    const cwd = tempDir('file' in how ? { 'byoc.config.yaml': how.file } : {});
    const result = await runCli([...refused, ...('argv' in how ? how.argv : [])], { cwd, stderrTTY: true, ...('env' in how ? { env: how.env } : {}) });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).not.toContain('\u001b[');
    expect(result.stderr).toMatch(/^error: .*\nhint: /);
  });

  it('a usage error before any file is read still obeys --no-color', async () => {
    const result = await runCli(['--nope', '--no-color'], { stderrTTY: true });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).not.toContain('\u001b[');
  });
});

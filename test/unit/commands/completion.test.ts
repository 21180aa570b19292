import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';

/** Sources the bash script and asks it to complete `line`, as bash would on TAB. */
function complete(script: string, words: string[]): string[] {
  const file = path.join(tempDir(), 'byoc.bash');
  writeFileSync(file, script);
  const quoted = words.map((word) => `'${word}'`).join(' ');
  const output = execFileSync('bash', ['-c', `source ${file}; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _byoc; printf '%s\\n' "\${COMPREPLY[@]}"`], {
    encoding: 'utf8',
  });
  return output.split('\n').filter(Boolean);
}

describe('byoc completion', () => {
  it('bash completes commands, subcommands and flags from the manifest', async () => {
    const { stdout, exitCode } = await runCli(['completion', 'bash']);
    expect(exitCode).toBe(0);
    expect(complete(stdout, ['byoc', ''])).toEqual(expect.arrayContaining(['config', 'help', 'completion', '--json']));
    expect(complete(stdout, ['byoc', 'config', ''])).toEqual(expect.arrayContaining(['show', 'validate']));
    expect(complete(stdout, ['byoc', 'config', 'show', '--j'])).toEqual(['--json']);
  });

  it('zsh output is a valid zsh/bash script', async () => {
    const { stdout } = await runCli(['completion', 'zsh']);
    expect(stdout.startsWith('#compdef byoc')).toBe(true);
    execFileSync('bash', ['-n'], { input: stdout });
  });

  it('fish lists subcommands with descriptions', async () => {
    const { stdout } = await runCli(['completion', 'fish']);
    expect(stdout).toContain("complete -c byoc -n '__fish_use_subcommand' -a config -d 'Show and check the configuration'");
    expect(stdout).toContain('-a show');
  });

  it('--json wraps the script', async () => {
    const { stdout } = await runCli(['completion', 'bash', '--json']);
    expect(JSON.parse(stdout)).toMatchObject({ shell: 'bash', script: expect.stringContaining('complete -F _byoc byoc') });
  });
});

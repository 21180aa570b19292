import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../fakes/fs.js';
import { BYOC_BIN, byoc } from './helpers.js';

const CONFIG = `services:
  acme-prod:
    clickhouse: { url: "https://ch.acme.example:8443" }
  globex-staging:
    clickhouse: { url: "https://ch.globex.example:8443" }
policy:
  approvers: [bob@vendor.example]
`;

/**
 * The installed experience: the built byoc on PATH, each shell's script from `byoc completion`, real bash, zsh and
 * fish completing against a real configuration and an embedded broker holding alice's pending request.
 */
async function installed() {
  const cwd = tempDir({ 'byoc.config.yaml': CONFIG });
  const bin = tempDir();
  writeFileSync(path.join(bin, 'byoc'), `#!/bin/sh\nexec '${process.execPath}' '${BYOC_BIN}' "$@"\n`);
  chmodSync(path.join(bin, 'byoc'), 0o755);
  const env = { PATH: `${bin}:${process.env.PATH}`, HOME: cwd, BYOC_STATE_DIR: path.join(cwd, 'state'), BYOC_USER: 'alice@vendor.example' };
  const requested = await byoc(['access', 'request', 'acme-prod', '--reason', 'merges stuck', '--no-wait', '--json'], { cwd, env });
  expect(requested.exitCode).toBe(8);
  const { id } = JSON.parse(requested.stdout) as { id: string };
  const script = async (shell: string) => {
    const file = path.join(bin, `byoc.${shell}`);
    writeFileSync(file, (await byoc(['completion', shell], { cwd, env })).stdout);
    return file;
  };
  return { cwd, env, id, script };
}

describe('shell completion with the built byoc', () => {
  it('bash: request ids, services, per-command flags and choices', async () => {
    const { cwd, env, id, script } = await installed();
    const file = await script('bash');
    const complete = (...words: string[]) =>
      execFileSync('bash', ['--norc', '-c', `source '${file}'; COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _byoc; printf '%s\\n' "\${COMPREPLY[@]}"`], { cwd, env, encoding: 'utf8' })
        .split('\n')
        .filter(Boolean);
    expect(complete('byoc', 'access', 'show', '')).toEqual([id]);
    expect(complete('byoc', 'cert', 'get', '')).toEqual(['acme-prod', 'globex-staging']);
    expect(complete('byoc', 'cert', 'list', '--')).not.toContain('--mine');
    expect(complete('byoc', 'access', 'list', '--')).toContain('--mine');
    expect(complete('byoc', 'query', 'acme-prod', '--format', 'j')).toEqual(['json']);
    expect(complete('byoc', 'config', 'validate', 'byoc.con')).toEqual(['byoc.config.yaml']);
  });

  it('zsh: values with descriptions', async () => {
    const { cwd, env, id, script } = await installed();
    const file = await script('zsh');
    const output = execFileSync(
      'zsh',
      ['-f', '-c', `compdef() { : }\ncompadd() { local -a names; while (( $# )); do case $1 in -a) shift; names=("$@"); break ;; -d) shift 2 ;; *) shift ;; esac; done; local n; for n in $names; do print -rl -- "\${(@P)n}"; done }\nsource '${file}'\nwords=(byoc access wait '')\nCURRENT=4\n_byoc`],
      { cwd, env, encoding: 'utf8' },
    );
    expect(output.split('\n').filter(Boolean)).toEqual([id]);
  });

  it('fish: per-command flags, and request ids with what they are', async () => {
    const { cwd, env, id, script } = await installed();
    const file = await script('fish');
    const complete = (line: string) =>
      execFileSync('fish', ['--no-config', '-c', `source '${file}'; complete -C '${line}'`], { cwd, env, encoding: 'utf8' })
        .split('\n')
        .filter(Boolean);
    const certList = complete('byoc cert list --').map((line) => line.split('\t')[0]);
    expect(certList).toEqual(expect.arrayContaining(['--json', '--config']));
    for (const flag of ['--mine', '--reviewable', '--status', '--service']) expect(certList).not.toContain(flag);
    expect(complete('byoc access show ')).toEqual([`${id}\tpending · acme-prod · alice@vendor.example · merges stuck`]);
  });
});

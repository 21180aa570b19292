import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { completionScript, type Shell } from '../../../src/completion/scripts.js';
import { runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';

/**
 * A stand-in `byoc` on PATH for the shell side: it records the words the script passed and prints a canned
 * answer, so these tests see exactly what each shell sends and how it shows what comes back.
 */
function stubByoc(answer: string) {
  const dir = tempDir();
  const argsFile = path.join(dir, 'args');
  writeFileSync(path.join(dir, 'answer'), answer);
  writeFileSync(path.join(dir, 'byoc'), `#!/bin/sh\nfor word in "$@"; do printf '[%s]\\n' "$word"; done > '${argsFile}'\ncat '${path.join(dir, 'answer')}'\n`);
  chmodSync(path.join(dir, 'byoc'), 0o755);
  const env = { PATH: `${dir}:${process.env.PATH}`, HOME: dir };
  const scriptFile = (shell: Shell) => {
    const file = path.join(dir, `byoc.${shell}`);
    writeFileSync(file, completionScript(shell));
    return file;
  };
  const passed = () => readFileSync(argsFile, 'utf8').split('\n').filter(Boolean);
  return { dir, env, scriptFile, passed };
}

/** Sources the bash script in a real bash and asks it to complete `words`, as bash does on TAB. */
function bashComplete(stub: ReturnType<typeof stubByoc>, words: string[], cwd = stub.dir): string[] {
  const quoted = words.map((word) => `'${word}'`).join(' ');
  const output = execFileSync('bash', ['--norc', '-c', `source '${stub.scriptFile('bash')}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _byoc; printf '%s\\n' "\${COMPREPLY[@]}"`], {
    encoding: 'utf8',
    env: stub.env,
    cwd,
  });
  return output.split('\n').filter(Boolean);
}

function zshComplete(stub: ReturnType<typeof stubByoc>, words: string[], cwd = stub.dir): string[] {
  // compadd and _files exist only inside zsh's completion system: stand-ins print what they were given.
  const harness = `
compdef() { : }
_files() { print -r -- 'FILES' }
compadd() {
  local display
  local -a names
  while (( $# )); do
    case $1 in
      -l) shift ;;
      -d) display=$2; shift 2 ;;
      -a) shift; names=("$@"); break ;;
      *) shift ;;
    esac
  done
  local name
  for name in $names; do print -rl -- "\${(@P)name}"; done
  [[ -n $display ]] && for line in "\${(@P)display}"; do print -r -- "display:$line"; done
}
source '${stub.scriptFile('zsh')}'
words=(${words.map((word) => `'${word}'`).join(' ')})
CURRENT=${words.length}
_byoc`;
  return execFileSync('zsh', ['-f', '-c', harness], { encoding: 'utf8', env: stub.env, cwd }).split('\n').filter(Boolean);
}

function fishComplete(stub: ReturnType<typeof stubByoc>, line: string, cwd = stub.dir): string[] {
  return execFileSync('fish', ['--no-config', '-c', `source '${stub.scriptFile('fish')}'; complete -C '${line}'`], { encoding: 'utf8', env: stub.env, cwd })
    .split('\n')
    .filter(Boolean);
}

const CANNED = 'r-0k3j9x2m1q\tpending · acme-prod · alice@vendor.example · merges stuck\nr-1abcdefghi\n';

describe('the bash script', () => {
  it('passes the words after byoc up to the cursor, the empty current word included, and offers the values without descriptions', () => {
    // Given a byoc that answers two request ids, one with a description
    const stub = stubByoc(CANNED);
    // When bash completes `byoc access show <TAB>`
    const offered = bashComplete(stub, ['byoc', 'access', 'show', '']);
    // Then byoc was asked with the words as typed, and bash offers just the ids
    expect(stub.passed()).toEqual(['[completion-candidates]', '[--]', '[access]', '[show]', '[]']);
    expect(offered).toEqual(['r-0k3j9x2m1q', 'r-1abcdefghi']);
  });

  it('completes file names when byoc answers :files', () => {
    const stub = stubByoc(':files\n');
    writeFileSync(path.join(stub.dir, 'diag.sql'), 'SELECT 1');
    expect(bashComplete(stub, ['byoc', 'query', '--file', 'di'])).toEqual(['diag.sql']);
    expect(stub.passed()).toEqual(['[completion-candidates]', '[--]', '[query]', '[--file]', '[di]']);
  });

  it('offers nothing, quietly, when byoc fails', () => {
    const stub = stubByoc('');
    writeFileSync(path.join(stub.dir, 'byoc'), '#!/bin/sh\necho "error: broken" >&2\nexit 3\n');
    expect(bashComplete(stub, ['byoc', 'access', 'show', ''])).toEqual([]);
  });
});

describe('the zsh script', () => {
  it('is valid zsh', () => {
    execFileSync('zsh', ['-n'], { input: completionScript('zsh') });
  });

  it('passes the words up to the cursor and adds the values, each shown with its description', () => {
    const stub = stubByoc(CANNED);
    const output = zshComplete(stub, ['byoc', 'access', 'show', '']);
    expect(stub.passed()).toEqual(['[completion-candidates]', '[--]', '[access]', '[show]', '[]']);
    expect(output.filter((line) => !line.startsWith('display:'))).toEqual(['r-0k3j9x2m1q', 'r-1abcdefghi']);
    expect(output).toContain('display:r-0k3j9x2m1q  -- pending · acme-prod · alice@vendor.example · merges stuck');
    expect(output).toContain('display:r-1abcdefghi');
  });

  it('hands over to _files when byoc answers :files', () => {
    const stub = stubByoc(':files\n');
    expect(zshComplete(stub, ['byoc', '--config', ''])).toEqual(['FILES']);
  });
});

describe('the fish script', () => {
  it('is valid fish and registers one dynamic completion, no static flag lists', () => {
    const script = completionScript('fish');
    const file = path.join(tempDir(), 'byoc.fish');
    writeFileSync(file, script);
    execFileSync('fish', ['--no-config', '--no-execute', file]);
    const rules = script.split('\n').filter((line) => line.startsWith('complete '));
    expect(rules).toEqual(["complete -c byoc -f -a '(__byoc_complete)'"]);
  });

  it('passes the words and the current token, and shows values with descriptions', () => {
    const stub = stubByoc(CANNED);
    const offered = fishComplete(stub, 'byoc access show ');
    expect(stub.passed()).toEqual(['[completion-candidates]', '[--]', '[access]', '[show]', '[]']);
    expect(offered).toEqual(['r-0k3j9x2m1q\tpending · acme-prod · alice@vendor.example · merges stuck', 'r-1abcdefghi']);
  });

  it('completes paths when byoc answers :files', () => {
    const stub = stubByoc(':files\n');
    writeFileSync(path.join(stub.dir, 'kube.yaml'), '');
    expect(fishComplete(stub, 'byoc connect k8s acme-prod --kubeconfig ku')).toEqual(['kube.yaml']);
    expect(stub.passed()).toEqual(['[completion-candidates]', '[--]', '[connect]', '[k8s]', '[acme-prod]', '[--kubeconfig]', '[ku]']);
  });
});

describe('byoc completion', () => {
  it('prints each script, and --json wraps it', async () => {
    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      const { stdout, exitCode } = await runCli(['completion', shell]);
      expect(exitCode).toBe(0);
      expect(stdout).toBe(completionScript(shell));
      expect(stdout).toContain('byoc completion-candidates --');
    }
    const { stdout } = await runCli(['completion', 'bash', '--json']);
    expect(JSON.parse(stdout)).toMatchObject({ shell: 'bash', script: expect.stringContaining('complete -F _byoc byoc') });
  });
});

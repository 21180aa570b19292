import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { brokerDir } from '../../src/access/broker.js';
import { caFiles } from '../../src/pki/ca.js';
import type { HelpTexts } from '../../src/precomputed-help.js';
import { brokerCaFile } from '../../src/sandbox/sandbox.js';
import { tempDir } from '../fakes/fs.js';

/**
 * What a real `byoc` process imports before it answers: the start cost every command pays. Each case runs
 * bin/byoc.js (the built dist, as installed) with a loader hook that records every module it resolves.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = path.join(root, 'bin', 'byoc.js');
const hook = pathToFileURL(path.join(root, 'test', 'fixtures', 'startup', 'module-list.mjs')).href;
const built = JSON.parse(readFileSync(path.join(root, 'dist', 'help.json'), 'utf8')) as HelpTexts;
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };

/** Packages a start must not load before the one step that needs them (commander: parsing a command line). */
const HEAVY = ['commander', 'ink', 'react', 'zod', 'cosmiconfig', 'yaml', 'js-yaml', '@clickhouse/client', 'node-forge', '@kubernetes/client-node'];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** byoc's own files, repo-relative */
  files: string[];
  /** packages from node_modules, by name */
  packages: string[];
  builtins: string[];
}

interface Options {
  cwd?: string;
  env?: Record<string, string>;
  input?: string;
}

function byoc(argv: string[], options: Options = {}): Run {
  return node([bin, ...argv], options);
}

function node(args: string[], options: Options = {}): Run {
  const list = path.join(tempDir(), 'modules.txt');
  // Only what the test sets: no BYOC_* of the developer's, no real home or user configuration.
  const env = { PATH: process.env.PATH ?? '', HOME: '/nonexistent-home', BYOC_STATE_DIR: tempDir(), NO_COLOR: '1', BYOC_MODULE_LIST: list, ...options.env };
  const result = spawnSync(process.execPath, ['--import', hook, ...args], { cwd: options.cwd ?? tempDir(), env, encoding: 'utf8', input: options.input ?? '' });
  const urls = [...new Set(readFileSync(list, 'utf8').split('\n').filter(Boolean))];
  const files = urls.filter((url) => url.startsWith('file:') && !url.includes('/node_modules/')).map((url) => path.relative(root, fileURLToPath(url)));
  const packages = [...new Set(urls.filter((url) => url.includes('/node_modules/')).map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)![1]!))];
  const builtins = urls.filter((url) => url.startsWith('node:'));
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, files, packages, builtins };
}

describe('byoc --version and --help load only the entry point', () => {
  it('--version: bin/byoc.js and bin/early.js, no package at all', () => {
    // When a script probes the version
    const run = byoc(['--version']);
    // Then it is printed after loading two small CommonJS files of byoc's and nothing else
    expect(run).toMatchObject({ status: 0, stdout: `${version}\n`, stderr: '' });
    expect(run.files).toEqual(['bin/byoc.js', 'bin/early.js']);
    expect(run.packages).toEqual([]);
    expect(run.builtins.every((url) => ['node:fs', 'node:path'].includes(url)), run.builtins.join(' ')).toBe(true);
  });

  it.each([[['--help'], ''], [[], ''], [['access', 'request', '--help'], 'access request'], [['help', 'cert', 'get'], 'cert get'], [['query'], 'query']])(
    '`byoc %j` prints the precomputed text with no package loaded (no commander)',
    (argv, helpPath) => {
      // When help is asked for on a pipe
      const run = byoc(argv);
      // Then it is the text commander renders (test/unit/precomputed.test.ts), read by bin/ alone
      expect(run).toMatchObject({ status: 0, stderr: '' });
      expect(run.stdout).toBe(built.texts[helpPath]);
      expect(run.files).toEqual(['bin/byoc.js', 'bin/early.js']);
      expect(run.packages).toEqual([]);
    },
  );

  it('a help command line the file does not answer still works, through commander', () => {
    // Given a command line that is not a plain help form
    const run = byoc(['help', 'access', 'nosuch']);
    // Then main answers it, and commander is what it needed
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('byoc access has no command named "nosuch"');
    expect(run.packages).toEqual(['commander']);
  });
});

/**
 * What `byoc query` may load up to its first network byte (issue #15: a 1-row query within 1.4x of a bare Node
 * request): byoc's own modules on the path, and no package at all (no commander: util.parseArgs reads the usual
 * command line; no @clickhouse/client: the query goes over byoc's own request).
 */
const QUERY_MODULES = [
  'bin/byoc.js', 'bin/early.js', 'bin/own-modules.js', 'dist/commands/index.js', 'dist/commands/query.js',
  'dist/src/access/broker.js', 'dist/src/access/chain.js', 'dist/src/access/credentials.js', 'dist/src/access/open.js', 'dist/src/access/operators.js', 'dist/src/access/policy.js',
  'dist/src/access/records.js', 'dist/src/access/server-user.js', 'dist/src/access/snapshot.js', 'dist/src/access/store-lock.js', 'dist/src/access/store.js', 'dist/src/access/turns.js', 'dist/src/access/types.js',
  'dist/src/cli.js', 'dist/src/clickhouse/client.js', 'dist/src/clickhouse/engineer.js', 'dist/src/clickhouse/guard.js', 'dist/src/clickhouse/http.js',
  'dist/src/clickhouse/lexer.js', 'dist/src/clickhouse/parser.js', 'dist/src/clickhouse/result-stream.js', 'dist/src/clickhouse/run.js',
  'dist/src/clickhouse/settings-memory.js', 'dist/src/clients.js', 'dist/src/command.js', 'dist/src/command/definition.js', 'dist/src/command/input.js',
  'dist/src/command/render.js', 'dist/src/config/configuration.js', 'dist/src/config/files.js', 'dist/src/config/kinds.js', 'dist/src/config/load.js',
  'dist/src/config/settings.js', 'dist/src/config/state-services.js', 'dist/src/context.js', 'dist/src/errors.js', 'dist/src/main.js', 'dist/src/net/agents.js',
  'dist/src/net/failure.js', 'dist/src/net/network.js', 'dist/src/options.js', 'dist/src/pki/crl-lifetime.js', 'dist/src/pki/store.js',
  'dist/src/precomputed-help.js', 'dist/src/ui/progress.js', 'dist/src/util/duration.js', 'dist/src/util/read.js', 'dist/src/util/secure-fs.js', 'dist/src/util/stream.js',
  'dist/src/util/suggest.js',
  // the sandbox's operator sweeps its grants before broker reads, when the sandbox is set up
  'dist/src/sandbox/broker-operator.js', 'dist/src/sandbox/grants.js', 'dist/src/sandbox/layout.js',
];

describe('byoc query loads at most the modules of its path', () => {
  it('a query up to the certificate check: no package (no commander, no @clickhouse/client), only the listed modules', () => {
    // Given a registered service (no configuration file) and an identity with no access to it
    const stateDir = tempDir({ 'services.json': JSON.stringify({ acme: { clickhouse: { url: 'https://ch.acme.example:8443' } } }) });
    // When a query runs, as scripts write it
    const run = byoc(['query', 'acme', 'SELECT 1', '--format', 'tsv', '--max-rows', '0'], { env: { BYOC_STATE_DIR: stateDir, BYOC_USER: 'alice@vendor.example' } });
    // Then it got as far as the broker's answer (exit 4, what to do next), having loaded nothing beyond the list
    expect(run.status, run.stderr).toBe(4);
    expect(run.stderr).toContain('have no approved access to acme');
    expect(run.packages).toEqual([]);
    expect(run.files.filter((file) => !QUERY_MODULES.includes(file))).toEqual([]);
    expect(run.files).toContain('dist/src/clickhouse/guard.js');
  });
});

describe('a command with no configuration file loads no configuration library', () => {
  it('`byoc help exit-codes` in a folder with no file: commander only (no cosmiconfig, yaml or zod)', () => {
    // Given a folder, its parents and a home with no byoc configuration
    const run = byoc(['help', 'exit-codes', '--json']);
    // Then the command runs and loads nothing heavy beyond commander
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).exitCodes).toHaveLength(9);
    expect(run.packages).toEqual(['commander']);
  });

  it('`byoc access list` on an empty embedded broker (not a TTY): no ink, react, zod, cosmiconfig, yaml or node-forge', () => {
    const run = byoc(['access', 'list', '--json'], { env: { BYOC_USER: 'alice@vendor.example' } });
    expect(run.status, run.stderr).toBe(0);
    expect(run.packages.filter((name) => HEAVY.includes(name) && name !== 'commander')).toEqual([]);
  });

  const invalid = 'user: a@x\nnope: 1\n';
  it.each([
    ['in the current folder', { 'work/byoc.config.yaml': invalid }, 'work', [], {}, 'work/byoc.config.yaml'],
    ['in a parent folder', { 'byoc.config.yaml': invalid, 'work/deeper/.keep': '' }, 'work/deeper', [], {}, 'byoc.config.yaml'],
    ['named by --config', { 'elsewhere/c.yaml': invalid, 'work/.keep': '' }, 'work', ['--config', '../elsewhere/c.yaml'], {}, 'elsewhere/c.yaml'],
    ['named by BYOC_CONFIG', { 'elsewhere/c.yaml': invalid, 'work/.keep': '' }, 'work', [], { BYOC_CONFIG: '../elsewhere/c.yaml' }, 'elsewhere/c.yaml'],
  ] as const)('a file %s is still found and validated (exit 3 naming the file and the key)', (_label, files, cwd, flags, env, file) => {
    // Given an invalid configuration file where byoc looks
    const dir = tempDir(files);
    // When a command runs
    const run = byoc(['help', 'exit-codes', ...flags], { cwd: path.join(dir, cwd), env });
    // Then the file was read (by cosmiconfig) and refused, naming the key (the YAML library finds its line)
    expect(run.status).toBe(3);
    expect(run.stderr).toContain(`invalid configuration in ${path.join(dir, file)}:\n  line 2: nope: unknown key`);
    expect(run.packages).toEqual(expect.arrayContaining(['cosmiconfig', 'js-yaml', 'yaml']));
  });

  it('a valid file is read and checked without zod (40-50 ms to import) or the YAML library', () => {
    // Given a valid configuration in the current folder
    const dir = tempDir({ 'byoc.config.yaml': 'output:\n  json: true\nservices:\n  acme:\n    clickhouse: { url: "https://ch.example:8443" }\n' });
    // When a command runs there
    const run = byoc(['help', 'exit-codes'], { cwd: dir });
    // Then the file took effect, and only the search library and its YAML parser came with it
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).exitCodes).toHaveLength(9);
    expect(run.packages.filter((name) => HEAVY.includes(name)).sort()).toEqual(['commander', 'cosmiconfig', 'js-yaml']);
  });

  it("a file setting a command's key is checked against the built table, without loading every command module", () => {
    // Given a file that sets the query command's row limit, once valid and once not
    const good = tempDir({ 'byoc.config.yaml': 'query:\n  maxRows: 500\n' });
    const bad = tempDir({ 'byoc.config.yaml': 'query:\n  maxRows: -1\n' });
    // When another command runs in each folder
    const ran = byoc(['help', 'exit-codes', '--json'], { cwd: good });
    const refused = byoc(['help', 'exit-codes'], { cwd: bad });
    // Then the good one runs loading its own command module only, and the bad one is refused naming line and key
    expect(ran.status, ran.stderr).toBe(0);
    expect(ran.files.filter((file) => file.startsWith('dist/commands/'))).toEqual(['dist/commands/index.js', 'dist/commands/help/exit-codes.js']);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toContain('line 2: query.maxRows: expected a whole number of at least 0; got -1');
  });

  it('a user file (~/.config/byoc/config.yaml) is found too', () => {
    const home = tempDir({ '.config/byoc/config.yaml': 'output:\n  json: true\n' });
    const run = byoc(['help', 'exit-codes'], { env: { HOME: home } });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).exitCodes).toHaveLength(9);
  });
});

describe('the process boundary (src/cli.ts)', () => {
  it('reads stdin only when a command does: `byoc query --check -` still gets the SQL piped in', () => {
    // Given SQL on stdin (the stream is made on first read, not for every command)
    const run = byoc(['query', '--check', '-', '--json'], { input: 'SELECT name FROM system.tables\n' });
    // Then the command read it
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ allowed: true });
  });
});

describe('what every embedded-broker command loads stays light', () => {
  it('the sandbox operator (loaded to sweep its grants whenever the sandbox is set up) loads no node-forge', () => {
    // Given the modules the broker loads for the sandbox service on every command
    const modules = ['dist/src/sandbox/operator.js', 'dist/src/sandbox/host.js'].map((file) => pathToFileURL(path.join(root, file)).href);
    // When they are imported
    const run = node(['--input-type=module', '-e', modules.map((url) => `await import(${JSON.stringify(url)});`).join('')]);
    // Then no certificate library comes with them (it loads when a certificate is made: sandbox up, cert get)
    expect(run.status, run.stderr).toBe(0);
    expect(run.files).toContain('dist/src/sandbox/sandbox.js');
    expect(run.packages).toEqual([]);
  });

  it("the sandbox's copy of the CA path is the CA's own", () => {
    const stateDir = tempDir();
    expect(brokerCaFile(stateDir)).toBe(caFiles(path.join(brokerDir(stateDir), 'ca')).cert);
  });
});

import { describe, expect, it } from 'vitest';
import { manifest, type CommandTree } from '../../commands/index.js';
import { completionTree } from '../../src/completion/tree.js';
import { commandFlags, defineCommand, option } from '../../src/command.js';
import { settingsTable } from '../../src/config/table.js';
import { runCli } from '../fakes/context.js';
import { tempDir } from '../fakes/fs.js';

// Given a new command whose one new option is declared in one place, and nowhere else
const frobs = option.integer({ flag: '--frobs <n>', key: 'demo.frobs', env: 'BYOC_DEMO_FROBS', default: 2, min: 1, max: 9, description: 'how many frobs to turn' });
const demo = defineCommand({
  options: { frobs },
  async run(input) {
    // typed as present: the option has a default
    const count: number = input.frobs;
    return { frobs: count };
  },
  text: (result) => `frobs\t${result.frobs}`,
});
const tree: CommandTree = {
  manifest: [{ file: 'demo', description: 'a command made up by a test', hidden: false, load: async () => demo }, ...manifest.filter((entry) => entry.file === 'config/show')],
  groups: { config: 'Show and check the configuration' },
};
const run = (argv: string[], setup: Parameters<typeof runCli>[1] = {}) => runCli(argv, setup, tree);

describe('an option declared once is seen everywhere', () => {
  it('in help: the command, its flag, what it accepts, its variable and its default', async () => {
    expect((await run(['--help'])).stdout).toMatch(/demo\s+a command made up by a test/);
    // (help wraps at the terminal's width)
    const help = (await run(['demo', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(help).toContain('--frobs <n> how many frobs to turn; a whole number from 1 to 9 (env: BYOC_DEMO_FROBS; default: 2)');
  });

  it('on the command line and in the environment, checked by the same validator', async () => {
    expect((await run(['demo'])).stdout).toBe('frobs\t2\n');
    expect((await run(['demo', '--frobs', '4'])).stdout).toBe('frobs\t4\n');
    expect((await run(['demo'], { env: { BYOC_DEMO_FROBS: '7' } })).stdout).toBe('frobs\t7\n');
    expect(await run(['demo', '--frobs', '10'])).toMatchObject({ exitCode: 2, stderr: expect.stringContaining('--frobs: expected a whole number from 1 to 9; got "10"') });
    expect(await run(['demo'], { env: { BYOC_DEMO_FROBS: '10' } })).toMatchObject({ exitCode: 3, stderr: expect.stringContaining('BYOC_DEMO_FROBS: expected a whole number from 1 to 9; got "10"') });
  });

  it('in the configuration schema: the key is accepted, checked, and a misspelling is named with its line', async () => {
    expect((await run(['demo'], { cwd: tempDir({ 'byoc.config.yaml': 'demo:\n  frobs: 5\n' }) })).stdout).toBe('frobs\t5\n');
    const misspelt = await run(['demo'], { cwd: tempDir({ 'byoc.config.yaml': 'demo:\n  frobz: 5\n' }) });
    expect(misspelt.exitCode).toBe(3);
    expect(misspelt.stderr).toContain('line 2: demo.frobz: unknown key (did you mean "frobs"?); expected one of: frobs');
    const bad = await run(['demo'], { cwd: tempDir({ 'byoc.config.yaml': 'demo:\n  frobs: 0\n' }) });
    expect(bad).toMatchObject({ exitCode: 3, stderr: expect.stringContaining('line 2: demo.frobs: expected a whole number from 1 to 9; got 0') });
  });

  it('in config show, with where its value comes from', async () => {
    const shown = JSON.parse((await run(['config', 'show', '--json'], { env: { BYOC_DEMO_FROBS: '3' } })).stdout);
    expect(shown.values).toContainEqual({ key: 'demo.frobs', value: 3, source: 'env', origin: 'BYOC_DEMO_FROBS' });
  });

  it('in the README table (generated from the same declarations; the real README is not written)', async () => {
    expect(await settingsTable(tree.manifest)).toContain('| `demo.frobs` | `BYOC_DEMO_FROBS` | `--frobs` (demo) | `2` | how many frobs to turn; a whole number from 1 to 9 |');
  });

  it('in completion, and for any tool that lists a command\'s flags with their kinds', async () => {
    const loaded = await Promise.all(tree.manifest.map(async (entry) => ({ file: entry.file, description: entry.description, hidden: entry.hidden, command: await entry.load() })));
    expect(completionTree(loaded, tree.groups).nodes.get('demo')?.flags.flatMap((flag) => flag.names)).toContain('--frobs');
    expect(commandFlags(demo)).toEqual([{ name: 'frobs', flag: '--frobs', value: '<n>', spec: frobs }]);
    expect(commandFlags(demo)[0]!.spec).toMatchObject({ kind: 'integer', min: 1, max: 9, env: 'BYOC_DEMO_FROBS', key: 'demo.frobs' });
  });
});

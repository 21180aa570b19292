import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../commands/index.js';
import { parseCommandLine, quickParse } from '../../src/main.js';
import { testBase } from '../fakes/context.js';

/** The words after `byoc` in a documented example, split as a POSIX shell would (quotes; up to a pipe or redirect). */
function wordsOf(example: string): string[] {
  const words: string[] = [];
  let current: string | undefined;
  for (let index = 0; index < example.length; index++) {
    const char = example[index]!;
    if (char === "'" || char === '"') {
      const end = example.indexOf(char, index + 1);
      current = (current ?? '') + example.slice(index + 1, end);
      index = end;
    } else if (char === ' ') {
      if (current !== undefined) words.push(current);
      current = undefined;
    } else {
      current = (current ?? '') + char;
    }
  }
  if (current !== undefined) words.push(current);
  const start = words.indexOf('byoc') + 1;
  const stop = words.findIndex((word, index) => index >= start && ['|', '>', '>>', '&&', '<', '2>&1'].includes(word));
  return words.slice(start, stop < 0 ? undefined : stop);
}

/** Command lines of every odd shape commander accepts or refuses. */
const SHAPES: string[][] = [
  ['query', 'sandbox', 'SELECT 1', '--format', 'tsv'],
  ['--json', 'query', 'sandbox', 'SELECT 1'],
  ['query', 'sandbox', '--json', 'SELECT 1', '--format=csv'],
  ['query', '--format', 'tsv', 'sandbox', 'SELECT 1'],
  ['--format', 'tsv', 'query', 'sandbox', 'SELECT 1'],
  ['query', 'sandbox', 'SELECT 1', '--format', 'xml'],
  ['query', 'sandbox', 'SELECT 1', '--format'],
  ['query', 'sandbox', 'SELECT 1', '--format', '-x'],
  ['query', 'sandbox', 'SELECT 1', '--cluster', '--json'],
  ['query', 'sandbox', 'SELECT 1', 'extra'],
  ['query'],
  ['query', '--json'],
  ['query', 'presets'],
  ['query', 'sandbox', '-'],
  ['query', 'sandbox', '--', 'SELECT 1'],
  ['query', 'sandbox', 'SELECT 1', '-h'],
  ['query', 'sandbox', 'SELECT 1', '--version'],
  ['query', 'sandbox', 'SELECT 1', '--json=1'],
  ['query', 'sandbox', 'SELECT 1', '--check=yes'],
  ['query', 'sandbox', 'SELECT 1', '--bogus'],
  ['query', 'sandbox', 'SELECT 1', '-j'],
  ['query', 'sandbox', '-1'],
  ['query', 'sandbox', ''],
  ['query', '', 'SELECT 1'],
  ['query', 'sandbox', 'SELECT 1', '--max-rows', '5', '--max-rows', '7'],
  ['query', 'sandbox', 'SELECT 1', '--timeout=', '--max-rows=0'],
  ['--config', 'x.yaml', 'query', 'sandbox', 'SELECT 1'],
  ['--config=x.yaml', 'query', 'sandbox', 'SELECT 1'],
  ['query', 'sandbox', 'SELECT 1', '--config', 'a.yaml', '--config', 'b.yaml'],
  ['--json', '--json', '--verbose', '--no-color', 'config', 'show'],
  ['config', 'show', '--no-color'],
  ['config', 'show', '--color'],
  ['config', 'shwo'],
  ['config'],
  ['access', 'request', 'sandbox', '--reason', 'r', '--no-wait'],
  ['access', 'request', 'sandbox', '--reason', 'r', '--wait', '--no-wait'],
  ['access', 'request', 'sandbox', '--no-wait', '--reason', 'r', '--wait'],
  ['access', 'request', '--reason', 'r'],
  ['access', 'approve'],
  ['access', 'nope', 'x'],
  ['completion', 'powershell'],
  ['completion', 'bash'],
  ['completion', 'bash', 'zsh'],
  ['completion-candidates', 'query', 'sa'],
  ['help', 'exit-codes'],
  ['help', 'access', 'request'],
  ['help'],
  ['nope'],
  [],
  ['-V'],
  ['--help'],
];

type Outcome = { error: string } | { flags: unknown; path: string[]; raw?: unknown; definition?: unknown };

async function byCommander(argv: string[]): Promise<Outcome> {
  try {
    const parsed = await parseCommandLine(argv, testBase().base, COMMANDS, { quick: false });
    return { flags: parsed.flags, path: parsed.path, raw: parsed.invocation?.raw, definition: parsed.invocation?.definition };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

async function byQuickParse(argv: string[]): Promise<Outcome | undefined> {
  try {
    const parsed = await quickParse(argv, COMMANDS);
    return parsed && { flags: parsed.flags, path: parsed.path, raw: parsed.invocation?.raw, definition: parsed.invocation?.definition };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe('quickParse: the usual command line without commander', () => {
  it('parses every documented example and odd shape exactly as commander does, or leaves it to commander', async () => {
    // Given every command's examples (the manifest's) and the odd shapes above
    const examples: string[][] = [];
    for (const entry of COMMANDS.manifest) for (const example of (await entry.load()).examples ?? []) examples.push(wordsOf(example));
    expect(examples.length).toBeGreaterThan(40);
    let quick = 0;
    for (const argv of [...examples, ...SHAPES]) {
      // When both parse it
      const fast = await byQuickParse(argv);
      if (fast === undefined) continue;
      quick++;
      // Then the quick parse, when it answers, is commander's invocation (or commander's own error about a value)
      expect(fast, argv.join(' ')).toEqual(await byCommander(argv));
    }
    // and it answers for most of them: the examples are the usual command lines
    expect(quick).toBeGreaterThan(examples.length / 2);
  });

  it('answers for a plain query with global options anywhere, with the values commander gives', async () => {
    // Given the benchmark's command line with global flags before and after the command
    const argv = ['--no-color', 'query', 'sandbox', 'SELECT 1', '--format', 'tsv', '--json', '--max-rows', '0', '--config=x.yaml'];
    // When it is parsed quickly
    const parsed = await quickParse(argv, COMMANDS);
    // Then the command, its arguments and flags, and the global flags are there
    expect(parsed?.path).toEqual(['query']);
    expect(parsed?.invocation?.raw).toEqual({ args: { service: 'sandbox', sql: 'SELECT 1' }, flags: { format: 'tsv', maxRows: '0' }, command: 'query' });
    expect(Object.fromEntries(parsed!.flags)).toEqual({
      'output.color': { value: false, flag: '--no-color' },
      'output.json': { value: true, flag: '--json' },
      config: { value: 'x.yaml', flag: '--config' },
    });
    expect(await byQuickParse(argv)).toEqual(await byCommander(argv));
  });

  it('leaves help, errors and unusual shapes to commander', async () => {
    // Given command lines commander answers with help or a usage error, or shapes it alone reads
    const left = [['query', 'sandbox', 'SELECT 1', '--bogus'], ['query'], ['completion', 'powershell'], ['query', 'sandbox', 'SELECT 1', 'extra'], ['--format', 'tsv', 'query', 's', 'q'], ['query', 's', '--', 'q'], ['query', 's', 'q', '-h'], ['help', 'exit-codes']];
    // When the quick parser sees them, Then it declines each
    for (const argv of left) expect(await quickParse(argv, COMMANDS), argv.join(' ')).toBeUndefined();
  });
});

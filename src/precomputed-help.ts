import type { CommandTree } from '../commands/index.js';
import type { ContextBase, OutputStream } from './context.js';

/**
 * Help, rendered once at build time (scripts/help.js writes dist/help.json) so that `byoc --help`, `byoc <path>
 * --help`, `byoc help <path>` and a bare group print without importing commander or building the command tree.
 * The texts are commander's own output, captured from main (test/unit/precomputed-help.test.ts checks that the
 * built file is what main prints today, for every path and every form).
 *
 * Width: commander wraps help at the terminal's width, and at 80 columns on a pipe. The texts are rendered at 80,
 * so they answer a pipe, a file, and a terminal 80 columns wide; any other terminal width goes through commander
 * as before. Colour does not matter: byoc's help carries no escape sequences (the test checks it), so commander's
 * colour handling could only ever strip what is not there.
 *
 * Keep this module free of imports: `byoc --help` loads it and nothing else of byoc.
 */
export interface HelpTexts {
  /** the width the texts were wrapped at */
  width: number;
  /** by command path, words joined by one space; '' is the root */
  texts: Record<string, string>;
}

export const HELP_WIDTH = 80;

const HELP_FLAGS = new Set(['--help', '-h']);

/**
 * The path whose help answers this command line, when it is one of the plain forms main turns into help, and the
 * output looks as it did when the texts were rendered; undefined: let main decide (an error, a topic, a command).
 */
export function precomputedHelpPath(argv: readonly string[], stdout: Pick<OutputStream, 'isTTY' | 'columns'>, help: HelpTexts): string | undefined {
  // commander asks for the terminal's width only on a TTY; elsewhere it wraps at 80.
  const width = stdout.isTTY ? stdout.columns : undefined;
  if ((width ?? HELP_WIDTH) !== help.width) return undefined;
  const { texts } = help;
  const known = (path: readonly string[]) => path.every((word) => /^[a-z0-9][a-z0-9-]*$/.test(word)) && Object.hasOwn(texts, path.join(' '));
  if (argv.length === 0) return '';
  const last = argv.at(-1)!;
  if (HELP_FLAGS.has(last)) {
    const path = argv.slice(0, -1);
    return known(path) ? path.join(' ') : undefined;
  }
  if (argv[0] === 'help') {
    // `byoc help exit-codes` runs a topic; `byoc help access request` is `byoc access request --help`.
    const topic = argv.slice(1);
    if (topic.length > 0 && known(['help', topic[0]!])) return undefined;
    return known(topic) ? topic.join(' ') : undefined;
  }
  // A group named alone prints its help (`byoc access`); a command named alone runs.
  const key = argv.join(' ');
  const isGroup = known(argv) && Object.keys(texts).some((other) => other.startsWith(`${key} `));
  return isGroup ? key : undefined;
}

/** Every command path of the tree: the root, each group, each command (hidden ones included). */
export function commandPaths(tree: CommandTree): string[] {
  const paths = new Set<string>(['']);
  for (const entry of tree.manifest) {
    const words = entry.file.split('/');
    for (let end = 1; end <= words.length; end++) paths.add(words.slice(0, end).join(' '));
  }
  return [...paths];
}

/** What main prints on stdout for `<path> --help` on a pipe, for every path: the build writes it to dist/help.json. */
export async function renderHelpTexts(tree: CommandTree, version: string): Promise<HelpTexts> {
  const { main } = await import('./main.js');
  const texts: Record<string, string> = {};
  for (const path of commandPaths(tree)) {
    let stdout = '';
    let stderr = '';
    const pipe = (append: (text: string) => void): OutputStream => ({ isTTY: false, write: (chunk) => (append(String(chunk)), true) });
    const base: ContextBase = {
      io: { stdout: pipe((text) => (stdout += text)), stderr: pipe((text) => (stderr += text)), stdin: { isTTY: false, async *[Symbol.asyncIterator]() {} } },
      env: {},
      cwd: '/',
      clock: { now: () => new Date(0), sleep: async () => undefined },
      signal: new AbortController().signal,
      version,
      self: { node: 'node', script: 'byoc' },
      clients: {},
    };
    const code = await main([...(path ? path.split(' ') : []), '--help'], base, tree);
    if (code !== 0 || stderr !== '') throw new Error(`byoc ${path} --help exited ${code}: ${stderr}`);
    texts[path] = stdout;
  }
  return { width: HELP_WIDTH, texts };
}

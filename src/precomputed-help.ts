import type { CommandTree } from '../commands/index.js';
import type { ContextBase, OutputStream } from './context.js';

/**
 * Help, rendered once at build time (scripts/precompute.js writes dist/help.json) so that `byoc --help`, `byoc <path>
 * --help`, `byoc help <path>` and a bare group print from bin/early.js without loading byoc, commander or the
 * command tree. The texts are commander's own output, captured from main on a pipe (80 columns);
 * test/unit/precomputed.test.ts checks that the built file is what main prints today, for every path and
 * every form bin/early.js answers.
 */
export interface HelpTexts {
  /** the width the texts were wrapped at */
  width: number;
  /** by command path, words joined by one space; '' is the root */
  texts: Record<string, string>;
}

/** commander's width on anything but a terminal, and the width of the precomputed texts. */
export const HELP_WIDTH = 80;

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

import type { AnyCommand } from '../command.js';
import { argsOf, flagsOf, globalFlags } from './adapter.js';
import type { CompletionNode, CompletionTree } from './model.js';

export interface LoadedCommand {
  /** path under commands/ without the extension: `access/request` */
  file: string;
  /** the manifest's description and visibility (command modules carry neither) */
  description: string;
  hidden: boolean;
  command: AnyCommand;
}

/** Every node of the command tree (groups and commands) with its subcommands, flags and arguments. */
export function completionTree(commands: readonly LoadedCommand[], groups: Readonly<Record<string, string>>): CompletionTree {
  const nodes = new Map<string, CompletionNode>();
  const node = (path: string): CompletionNode => {
    let found = nodes.get(path);
    if (!found) {
      found = { path, description: groups[path] ?? '', hidden: false, runnable: false, subcommands: [], flags: [], args: [] };
      nodes.set(path, found);
    }
    return found;
  };
  node('').flags.push({ names: ['--version', '-V'], takesValue: false, description: 'print the version', values: { kind: 'none' } });
  for (const { file, description, hidden, command } of commands) {
    const words = file.split('/');
    words.forEach((word, index) => {
      const parent = node(words.slice(0, index).join(' '));
      if (!parent.subcommands.includes(word)) parent.subcommands.push(word);
    });
    const path = words.join(' ');
    const leaf = node(path);
    Object.assign(leaf, { description, hidden, runnable: true, flags: [...leaf.flags, ...flagsOf(command)], args: argsOf(command, path) });
  }
  return { nodes, globals: globalFlags() };
}

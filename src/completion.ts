/** Shell completion scripts generated from the command tree, so they never drift from the manifest. */
export type Shell = 'bash' | 'zsh' | 'fish';

export interface CompletionNode {
  /** words after `byoc`, e.g. `access request`; empty for the root */
  path: string;
  description: string;
  subcommands: string[];
  flags: string[];
}

export function completionScript(shell: Shell, nodes: readonly CompletionNode[]): string {
  if (shell === 'fish') return fishScript(nodes);
  const bash = bashScript(nodes);
  if (shell === 'bash') return bash;
  return `#compdef byoc\n# byoc completion for zsh, through zsh's bash-compatible completion\nautoload -U +X bashcompinit && bashcompinit\n${bash}`;
}

function bashScript(nodes: readonly CompletionNode[]): string {
  const cases = nodes
    .map((node) => `    ${JSON.stringify(node.path)}) echo ${shellQuote([...node.subcommands, ...node.flags].join(' '))} ;;`)
    .join('\n');
  return `# byoc completion for bash: source <(byoc completion bash)
_byoc_words() {
  case "$1" in
${cases}
    *) return 1 ;;
  esac
}
_byoc() {
  local cur path word candidate i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ "$word" == -* ]] && continue
    candidate="\${path:+$path }$word"
    _byoc_words "$candidate" >/dev/null && path="$candidate"
  done
  COMPREPLY=( $(compgen -W "$(_byoc_words "$path")" -- "$cur") )
}
complete -F _byoc byoc
`;
}

function fishScript(nodes: readonly CompletionNode[]): string {
  const lines = ['# byoc completion for fish: byoc completion fish > ~/.config/fish/completions/byoc.fish', 'complete -c byoc -f'];
  const byPath = new Map(nodes.map((node) => [node.path, node]));
  for (const node of nodes) {
    const words = node.path ? node.path.split(' ') : [];
    const condition = words.length === 0
      ? '__fish_use_subcommand'
      : `__fish_seen_subcommand_from ${words.at(-1)}; and not __fish_seen_subcommand_from ${node.subcommands.join(' ') || '--'}`;
    for (const sub of node.subcommands) {
      const child = byPath.get([...words, sub].join(' '));
      lines.push(`complete -c byoc -n ${shellQuote(condition)} -a ${sub} -d ${shellQuote(child?.description ?? '')}`);
    }
    for (const flag of node.flags.filter((flag) => flag.startsWith('--'))) {
      lines.push(`complete -c byoc -n ${shellQuote(condition)} -l ${flag.slice(2)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

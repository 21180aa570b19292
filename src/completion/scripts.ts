/**
 * Shell completion scripts. They are thin on purpose: on every TAB they hand the words typed so far to
 * `byoc completion-candidates` and show what it prints, so commands, flags, services, request ids and presets
 * are always those of the byoc installed and of its configuration. stderr is discarded: a TAB never prints errors.
 * Protocol: one candidate a line, `value<TAB>description`; a line `:files` asks the shell to complete file names.
 */
export type Shell = 'bash' | 'zsh' | 'fish';

export function completionScript(shell: Shell): string {
  return shell === 'bash' ? BASH : shell === 'zsh' ? ZSH : FISH;
}

// bash 3.2 (macOS) has neither mapfile nor `compopt`: read lines in a loop, and ask for filename handling only where it exists.
const BASH = `# byoc completion for bash: source <(byoc completion bash)
_byoc() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" line
  COMPREPLY=()
  while IFS= read -r line; do
    if [[ "$line" == ":files" ]]; then
      compopt -o filenames 2>/dev/null
      while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -f -- "$cur")
    elif [[ -n "$line" ]]; then
      COMPREPLY+=("\${line%%$'\\t'*}")
    fi
  done < <(byoc completion-candidates -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
}
complete -F _byoc byoc
`;

const ZSH = `#compdef byoc
# byoc completion for zsh: byoc completion zsh > "\${fpath[1]}/_byoc" (or: source <(byoc completion zsh) after compinit)
_byoc() {
  local line
  local -a values displays
  for line in "\${(@f)$(byoc completion-candidates -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}"; do
    [[ -z "$line" ]] && continue
    if [[ "$line" == ":files" ]]; then
      _files
      return
    fi
    values+=("\${line%%$'\\t'*}")
    if [[ "$line" == *$'\\t'* ]]; then
      displays+=("\${line%%$'\\t'*}  -- \${line#*$'\\t'}")
    else
      displays+=("$line")
    fi
  done
  (( \${#values} )) && compadd -l -d displays -a values
}
if [[ "\${funcstack[1]}" == "_byoc" ]]; then
  _byoc "$@"
else
  compdef _byoc byoc
fi
`;

const FISH = `# byoc completion for fish: byoc completion fish > ~/.config/fish/completions/byoc.fish
function __byoc_complete
    set -l words (commandline -opc)
    set -l current (commandline -ct)
    set -l lines (byoc completion-candidates -- $words[2..-1] "$current" 2>/dev/null)
    if contains -- :files $lines
        __fish_complete_path "$current"
        return
    end
    printf '%s\\n' $lines
end
complete -c byoc -f -a '(__byoc_complete)'
`;

import { defineCommand } from '../src/command.js';
import type { CompletionNode, Shell } from '../src/completion.js';

export default defineCommand({
  examples: ['source <(byoc completion bash)', 'byoc completion zsh > "${fpath[1]}/_byoc"', 'byoc completion fish > ~/.config/fish/completions/byoc.fish'],
  args: { shell: { description: 'bash, zsh or fish', required: true, choices: ['bash', 'zsh', 'fish'] } },
  async run({ shell }) {
    const [{ completionScript }, { completionTree }] = await Promise.all([import('../src/completion.js'), import('./index.js')]);
    return { shell: shell as Shell, script: completionScript(shell as Shell, await completionTree()) };
  },
  text: (result) => result.script,
});

export type { CompletionNode };

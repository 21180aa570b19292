import { defineCommand } from '../src/command.js';
import type { Shell } from '../src/completion/scripts.js';

export default defineCommand({
  examples: ['source <(byoc completion bash)', 'byoc completion zsh > "${fpath[1]}/_byoc"', 'byoc completion fish > ~/.config/fish/completions/byoc.fish'],
  args: { shell: { description: 'bash, zsh or fish', required: true, choices: ['bash', 'zsh', 'fish'] } },
  async run({ shell }) {
    const { completionScript } = await import('../src/completion/scripts.js');
    return { shell: shell as Shell, script: completionScript(shell as Shell) };
  },
  text: (result) => result.script,
});

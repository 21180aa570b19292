import { defineCommand, RawJson } from '../src/command.js';
import { formatCompletion, type Completion } from '../src/completion/candidates.js';

export default defineCommand({
  examples: ["byoc completion-candidates -- access show ''", 'byoc completion-candidates -- query acme-prod --format j'],
  // A TAB must never print an error: with a broken configuration there is simply less to offer.
  reportsConfigErrors: true,
  args: { words: { description: 'the words after byoc up to the cursor; the last is the one being completed', variadic: true } },
  async run({ words }, ctx): Promise<Completion> {
    const [{ complete }, { completionTree }, { contextSources }, { groups, manifest }] = await Promise.all([
      import('../src/completion/candidates.js'),
      import('../src/completion/tree.js'),
      import('../src/completion/sources.js'),
      import('./index.js'),
    ]);
    const commands = await Promise.all(manifest.map(async (entry) => ({ file: entry.file, description: entry.description, hidden: entry.hidden, command: await entry.load() })));
    return complete(completionTree(commands, groups), words.length ? words : [''], contextSources(ctx));
  },
  // The scripts read lines whatever the output settings (BYOC_JSON in a user's environment included).
  json: (completion) => new RawJson(once(formatCompletion(completion))),
  text: (completion) => formatCompletion(completion),
});

async function* once(text: string): AsyncGenerator<string> {
  yield text;
}

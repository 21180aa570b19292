import { defineCommand } from '../../src/command.js';

export interface ConfigValidateResult {
  file: string | null;
  valid: true;
}

export default defineCommand({
  examples: ['byoc config validate', 'byoc config validate ./byoc.config.yaml --json'],
  args: { file: { description: 'file to check; default: the one byoc would use' } },
  // Checked like any configuration, before run: exit 3 naming the file, each key, its line and what was expected.
  configFile: ({ file }) => file,
  async run(_input, ctx): Promise<ConfigValidateResult> {
    const configuration = await ctx.config();
    return { file: configuration.file.path ?? null, valid: true };
  },
  text: (result) => (result.file ? `${result.file}: valid` : 'no configuration file found: defaults and environment apply'),
});

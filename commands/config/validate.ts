import path from 'node:path';
import { defineCommand } from '../../src/command.js';

export interface ConfigValidateResult {
  file: string | null;
  valid: true;
}

export default defineCommand({
  description: 'Check a configuration file against the schema (exit 3 naming every bad key)',
  examples: ['byoc config validate', 'byoc config validate ./byoc.config.yaml --json'],
  args: { file: { description: 'file to check; default: the one byoc would use' } },
  async run({ file }, ctx): Promise<ConfigValidateResult> {
    if (file) {
      const { validateConfigFile } = await import('../../src/config/load.js');
      const checked = await validateConfigFile(path.resolve(ctx.cwd, file));
      return { file: checked.path ?? null, valid: true };
    }
    const configuration = await ctx.config();
    return { file: configuration.file.path ?? null, valid: true };
  },
  text: (result) => (result.file ? `${result.file}: valid` : 'no configuration file found: defaults and environment apply'),
});

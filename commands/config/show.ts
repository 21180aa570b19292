import { defineCommand, tsv } from '../../src/command.js';
import type { ResolvedValue } from '../../src/config/configuration.js';
import { display } from '../../src/util/format.js';

interface ConfigShowResult {
  configFile: string | null;
  stateDir: string;
  values: ResolvedValue[];
}

export default defineCommand({
  examples: ['byoc config show', 'byoc config show --json | jq .values', 'BYOC_USER=alice@vendor.example byoc config show'],
  async run(_input, ctx): Promise<ConfigShowResult> {
    const configuration = await ctx.config();
    return {
      configFile: configuration.file.path ?? null,
      stateDir: ctx.stateDir(),
      values: await configuration.entries(),
    };
  },
  text: (result) =>
    tsv(result.values.map((entry) => [entry.key, display(entry.value), entry.source ?? 'unset', entry.origin ?? ''])),
  async view(result, render) {
    const { ConfigShowView } = await import('../../src/ui/views/config-show.js');
    return ConfigShowView({ result, color: render.color });
  },
});

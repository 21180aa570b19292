import { defineCommand, tsv } from '../../src/command.js';

export default defineCommand({
  examples: ['byoc query presets', 'byoc query acme-prod --preset merges'],
  async run() {
    const { PRESETS } = await import('../../src/clickhouse/presets.js');
    return { presets: PRESETS.map(({ name, description, sql }) => ({ name, description, sql })) };
  },
  text: (result) => tsv(result.presets.map((preset) => [preset.name, preset.description])),
  async view(result, render) {
    const { PresetsView } = await import('../../src/ui/views/presets.js');
    return PresetsView({ presets: result.presets, color: render.color, columns: render.columns });
  },
});

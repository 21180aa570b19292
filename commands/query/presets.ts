import { defineCommand, tsv } from '../../src/command.js';

export default defineCommand({
  examples: ['byoc query presets', 'byoc query acme-prod --preset merges', 'byoc query acme-prod --preset cluster-parts --cluster main'],
  async run() {
    const { PRESETS, renderPreset } = await import('../../src/clickhouse/presets.js');
    // The SQL as current ClickHouse runs it; on an older server `byoc query SERVICE --preset` adapts it to the columns there.
    return {
      presets: PRESETS.map((preset) => ({ name: preset.name, description: preset.description, table: `system.${preset.table}`, needsCluster: preset.replicas === true, sql: renderPreset(preset).sql })),
    };
  },
  text: (result) => tsv(result.presets.map((preset) => [preset.name, preset.description])),
  async view(result, render) {
    const { PresetsView } = await import('../../src/ui/views/presets.js');
    return PresetsView({ presets: result.presets, color: render.color, columns: render.columns });
  },
});

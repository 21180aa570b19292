import { defineCommand } from '../../src/command.js';

export default defineCommand({
  examples: ['byoc metrics presets', 'byoc metrics presets --json', 'byoc metrics range acme-prod --preset memory --since 6h'],
  async run() {
    const { METRICS_PRESETS } = await import('../../src/metrics/presets.js');
    return { presets: METRICS_PRESETS.map((preset) => ({ ...preset })) };
  },
  text: (result) => result.presets.map((preset) => `${preset.name}\t${preset.description}\t${preset.promql}\n`).join(''),
  async view(result, render) {
    const { MetricsTable } = await import('../../src/ui/views/metrics.js');
    return MetricsTable({ rows: result.presets.map((preset) => ({ preset: preset.name, 'what it shows': preset.description })), columns: ['preset', 'what it shows'], color: render.color, width: render.columns });
  },
});

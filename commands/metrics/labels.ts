import { defineCommand } from '../../src/command.js';
import { METRICS_OPTIONS } from '../../src/options.js';
import { formatFor, metricsJson, metricsText, metricsView, withMetrics, type MetricsOutput } from '../../src/metrics/output.js';

export default defineCommand({
  examples: ['byoc metrics labels acme-prod', 'byoc metrics labels acme-prod instance', 'byoc metrics labels acme-prod __name__ | grep ClickHouseProfileEvents_'],
  args: {
    service: { description: 'the customer service', required: true },
    name: { description: "a label name: list its values instead (__name__: every metric's name)" },
  },
  options: {
    format: METRICS_OPTIONS.format,
    timeout: METRICS_OPTIONS.timeout,
  },
  async run(input, ctx): Promise<MetricsOutput> {
    const { checkLabelName } = await import('../../src/metrics/endpoints.js');
    // A bad name is refused before any certificate or connection: it could never be a path segment.
    if (input.name !== undefined) checkLabelName(input.name);
    const format = formatFor(ctx, input.format);
    return withMetrics(ctx, input.service, input.timeout, async (session, client) => {
      const nowMs = ctx.clock.now().getTime();
      const window: [string, string][] = [['start', String((nowMs - session.grant.windowMs) / 1000)], ['end', String(nowMs / 1000)]];
      const { data } = await client.call<string[]>(input.name !== undefined ? { endpoint: 'label_values', label: input.name, params: window } : { endpoint: 'labels', params: window });
      const column = input.name !== undefined ? 'value' : 'label';
      return {
        format,
        columns: [column],
        rows: data.map((entry) => ({ [column]: entry })),
        document: { service: input.service, requestId: session.grant.requestId, ...(input.name !== undefined ? { label: input.name, values: data } : { labels: data }) },
      };
    });
  },
  json: metricsJson,
  // piped plain: one per line, as grep wants it
  text: (output) => (output.format === 'tsv' ? output.rows.map((row) => `${Object.values(row)[0]}\n`).join('') : metricsText(output)),
  view: metricsView,
});

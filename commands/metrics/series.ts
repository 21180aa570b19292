import { defineCommand } from '../../src/command.js';
import { METRICS_OPTIONS } from '../../src/options.js';
import { formatFor, metricsJson, metricsText, metricsView, withMetrics, type MetricsOutput } from '../../src/metrics/output.js';
import type { Labels } from '../../src/metrics/present.js';

export default defineCommand({
  examples: ['byoc metrics series acme-prod up', "byoc metrics series acme-prod '{__name__=~\"ClickHouseMetrics_.*\",instance=\"ch-0:9363\"}' --format ndjson"],
  args: {
    service: { description: 'the customer service', required: true },
    matchers: { description: 'series selectors (e.g. up, {job="clickhouse"}); a series matching any is listed', required: true, variadic: true },
  },
  options: {
    format: METRICS_OPTIONS.format,
    timeout: METRICS_OPTIONS.timeout,
    maxSeries: METRICS_OPTIONS.maxSeries,
  },
  async run(input, ctx): Promise<MetricsOutput> {
    const [{ checkSeriesCount }, { seriesName }] = await Promise.all([import('../../src/metrics/caps.js'), import('../../src/metrics/present.js')]);
    const format = formatFor(ctx, input.format);
    return withMetrics(ctx, input.service, input.timeout, async (session, client) => {
      // Within the grant's window, like a range: the series that lived while the grant could look.
      const nowMs = ctx.clock.now().getTime();
      const params: [string, string][] = [...input.matchers.map((matcher): [string, string] => ['match[]', matcher]), ['start', String((nowMs - session.grant.windowMs) / 1000)], ['end', String(nowMs / 1000)]];
      const { data } = await client.call<Labels[]>({ endpoint: 'series', params });
      checkSeriesCount(data.length, input.maxSeries);
      return {
        format,
        columns: ['series'],
        rows: data.map((labels) => ({ series: seriesName(labels) })),
        document: { service: input.service, requestId: session.grant.requestId, matchers: input.matchers, series: data },
      };
    });
  },
  // NDJSON: each series as its label set, which a tool reads without parsing the selector syntax
  json: metricsJson,
  text: (output) => (output.format === 'ndjson' ? (output.document.series as Labels[]).map((labels) => `${JSON.stringify(labels)}\n`).join('') : metricsText(output)),
  view: metricsView,
});

import { defineCommand, option } from '../../src/command.js';
import { METRICS_OPTIONS } from '../../src/options.js';
import { formatFor, metricsJson, metricsText, metricsView, withMetrics, type MetricsOutput } from '../../src/metrics/output.js';

export default defineCommand({
  examples: [
    'byoc metrics query acme-prod up',
    "byoc metrics query acme-prod 'ClickHouseMetrics_MemoryTracking' --time 2h",
    "byoc metrics query acme-prod 'rate(ClickHouseProfileEvents_Query[5m])' --format csv > rate.csv",
  ],
  args: {
    service: { description: 'the customer service', required: true },
    promql: { description: 'the PromQL expression', required: true },
  },
  options: {
    time: option.string({ flag: '--time <time>', key: 'metrics.time', env: 'BYOC_METRICS_TIME', defaultNote: 'now', description: 'evaluate at this time: RFC 3339, Unix seconds, or how long ago (30m)' }),
    format: METRICS_OPTIONS.format,
    timeout: METRICS_OPTIONS.timeout,
    maxSeries: METRICS_OPTIONS.maxSeries,
  },
  async run(input, ctx): Promise<MetricsOutput> {
    const [{ parseTime, checkSeriesCount }, { sampleRows, seriesCount }] = await Promise.all([import('../../src/metrics/caps.js'), import('../../src/metrics/present.js')]);
    const nowMs = ctx.clock.now().getTime();
    const atMs = input.time !== undefined ? parseTime(input.time, nowMs) : nowMs;
    const format = formatFor(ctx, input.format);
    return withMetrics(ctx, input.service, input.timeout, async (session, client) => {
      const params: [string, string][] = [['query', input.promql], ['time', String(atMs / 1000)], ['timeout', `${Math.ceil(input.timeout / 1000)}s`]];
      const { data } = await client.call<import('../../src/metrics/present.js').QueryData>({ endpoint: 'query', params });
      checkSeriesCount(seriesCount(data), input.maxSeries);
      return {
        format,
        columns: ['series', 'value', 'time'],
        rows: sampleRows(data).map((row) => ({ series: row.series, value: row.value, time: row.time })),
        document: { service: input.service, requestId: session.grant.requestId, query: input.promql, time: new Date(atMs).toISOString(), ...data },
      };
    });
  },
  json: metricsJson,
  text: metricsText,
  view: metricsView,
});

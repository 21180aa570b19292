import { defineCommand, option } from '../../src/command.js';
import { UsageError } from '../../src/errors.js';
import { METRICS_OPTIONS } from '../../src/options.js';
import { formatFor, metricsJson, metricsText, metricsView, withMetrics, type MetricsOutput } from '../../src/metrics/output.js';
import type { QueryData } from '../../src/metrics/present.js';
import { findMetricsPreset, METRICS_PRESETS } from '../../src/metrics/presets.js';

export default defineCommand({
  examples: [
    "byoc metrics range acme-prod 'ClickHouseMetrics_MemoryTracking' --since 6h",
    'byoc metrics range acme-prod --preset merges --since 2h --step 1m',
    "byoc metrics range acme-prod 'rate(ClickHouseProfileEvents_Query[5m])' --format ndjson > qps.ndjson",
  ],
  args: {
    service: { description: 'the customer service', required: true },
    promql: { description: 'the PromQL expression (or --preset)' },
  },
  options: {
    since: option.duration({ flag: '--since <duration>', key: 'metrics.since', env: 'BYOC_METRICS_SINCE', default: '6h', description: "how far back, ending now; at most the grant's window (approval to end)" }),
    step: option.duration({
      flag: '--step <duration>', key: 'metrics.step', env: 'BYOC_METRICS_STEP', defaultNote: 'about 720 points over --since (30s for 6h)',
      description: 'the resolution; refused below the step that keeps each series within 11,000 points',
    }),
    // Choices, so a wrong name is refused with the list and the shell completes the names (the table is small).
    preset: option.choice({ flag: '--preset <name>', key: 'metrics.preset', env: 'BYOC_METRICS_PRESET', choices: METRICS_PRESETS.map((entry) => entry.name), description: 'a curated ClickHouse health view instead of PROMQL (see: byoc metrics presets)' }),
    format: METRICS_OPTIONS.format,
    timeout: METRICS_OPTIONS.timeout,
    maxSeries: METRICS_OPTIONS.maxSeries,
  },
  async run(input, ctx): Promise<MetricsOutput> {
    const promql = expressionOf(input.service, input.promql, input.preset);
    const [{ planRange, checkSeriesCount }, { sampleRows, seriesCount, summarize }] = await Promise.all([import('../../src/metrics/caps.js'), import('../../src/metrics/present.js')]);
    const format = formatFor(ctx, input.format);
    return withMetrics(ctx, input.service, input.timeout, async (session, client) => {
      const plan = planRange({ sinceMs: input.since, stepMs: input.step, nowMs: ctx.clock.now().getTime(), grant: session.grant });
      const params: [string, string][] = [
        ['query', promql],
        ['start', String(plan.startMs / 1000)],
        ['end', String(plan.endMs / 1000)],
        ['step', String(plan.stepMs / 1000)],
        ['timeout', `${Math.ceil(input.timeout / 1000)}s`],
      ];
      const { data } = await client.call<QueryData>({ endpoint: 'query_range', params });
      checkSeriesCount(seriesCount(data), input.maxSeries);
      const matrix = data.resultType === 'matrix' ? data.result : [];
      return {
        format,
        columns: ['series', 'time', 'value'],
        rows: sampleRows(data).map((row) => ({ series: row.series, time: row.time, value: row.value })),
        summaries: summarize(matrix, 40),
        document: {
          service: input.service,
          requestId: session.grant.requestId,
          query: promql,
          ...(input.preset !== undefined ? { preset: input.preset } : {}),
          start: new Date(plan.startMs).toISOString(),
          end: new Date(plan.endMs).toISOString(),
          stepSeconds: plan.stepMs / 1000,
          ...data,
        },
      };
    });
  },
  json: metricsJson,
  text: metricsText,
  view: metricsView,
});

/** The PromQL from the argument or a preset, exactly one of them. */
function expressionOf(service: string, promql: string | undefined, preset: string | undefined): string {
  if (promql !== undefined && preset !== undefined) {
    throw new UsageError('promql_sources', 'give the PromQL one way: as an argument or with --preset', { hint: `Keep one: byoc metrics range ${service} --preset ${preset}` });
  }
  // --preset is a choice: a name outside the table was refused before run
  if (preset !== undefined) return findMetricsPreset(preset)!.promql;
  if (promql === undefined || promql.trim() === '') {
    throw new UsageError('promql_required', 'no PromQL to run', { hint: `Pass it as an argument or name a preset: byoc metrics range ${service} --preset memory` });
  }
  return promql;
}

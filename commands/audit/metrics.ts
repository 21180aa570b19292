import { defineCommand, option } from '../../src/command.js';
import { UsageError } from '../../src/errors.js';
import { parseDuration } from '../../src/util/duration.js';

export default defineCommand({
  examples: [
    'byoc audit metrics',
    'byoc audit metrics --since 7d --json',
    'byoc audit metrics --log /var/log/nginx/prometheus-byoc.log --since 2026-11-21T00:00:00Z',
  ],
  options: {
    since: option.string({ flag: '--since <when>', key: 'audit.metrics.since', env: 'BYOC_AUDIT_METRICS_SINCE', default: '24h', description: 'start: a duration ago (24h, 7d) or an ISO time' }),
    log: option.path({
      flag: '--log <file>', key: 'audit.metrics.log', env: 'BYOC_AUDIT_METRICS_LOG', defaultNote: "the sandbox's nginx metrics log",
      description: "your proxy's metrics log (one JSON object per call, the sandbox's nginx format)",
    }),
  },
  async run(input, ctx) {
    const [{ auditMetricsLog }, { sandboxPaths }] = await Promise.all([import('../../src/audit/metrics-log.js'), import('../../src/sandbox/layout.js')]);
    const now = ctx.clock.now().getTime();
    const duration = parseDuration(input.since);
    const since = duration !== undefined ? now - duration : Date.parse(input.since);
    if (Number.isNaN(since)) throw new UsageError('invalid_time', `--since "${input.since}" is neither a duration (24h) nor a time (2026-11-21T10:00:00Z)`, { hint: 'For example --since 6h or --since 2026-11-21T10:00:00Z.' });
    if (since > now) throw new UsageError('empty_window', `--since ${input.since} (${new Date(since).toISOString()}) is in the future`, { hint: 'Name a time before now, e.g. --since 24h.' });
    const file = input.log ?? sandboxPaths(ctx.stateDir()).nginx.metricsLog;
    // `until` a second ahead: a call logged in the current second is in.
    return auditMetricsLog(file, { since, until: now + 1000 });
  },
  text: (report) =>
    (async function* () {
      const { metricsReportText } = await import('../../src/audit/metrics-log.js');
      yield `${metricsReportText(report)}\n`;
    })(),
  async view(report, render) {
    const { MetricsAuditView } = await import('../../src/ui/views/audit-metrics.js');
    return MetricsAuditView({ report, color: render.color, now: render.now });
  },
});

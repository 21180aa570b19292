import { Box, Text } from 'ink';
import type { MetricsAuditReport, MetricsFinding, MetricsRequestSummary } from '../../audit/metrics-log.js';
import { formatRelative } from '../../util/duration.js';
import { Table } from '../table.js';
import { FindingsSection } from './findings.js';

export interface MetricsAuditViewProps {
  report: MetricsAuditReport;
  color: boolean;
  now: Date;
}

const endpointsOf = (row: MetricsRequestSummary) =>
  Object.entries(row.endpoints)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([path, count]) => `${path.replace(/^\/api\/v1\//, '')} ${count}`)
    .join(', ');

export function MetricsAuditView({ report, color, now }: MetricsAuditViewProps) {
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>Metrics calls in {report.source}</Text> · {report.since} → {report.until}
      </Text>
      <Text>
        {report.calls} call{report.calls === 1 ? '' : 's'}, {report.refusals} refused at the proxy
      </Text>
      <Text> </Text>
      {report.requests.length === 0 ? (
        <Text>No metrics calls in this window.</Text>
      ) : (
        <Table<MetricsRequestSummary>
          rows={report.requests}
          color={color}
          columns={[
            { header: 'request', value: (row) => row.requestId || '(no certificate)' },
            { header: 'engineer', value: (row) => row.engineer || '-' },
            { header: 'calls', value: (row) => String(row.calls) },
            { header: 'refused', value: (row) => String(row.refusals), color: (row) => (row.refusals ? 'red' : undefined) },
            { header: 'errors', value: (row) => String(row.errors), color: (row) => (row.errors ? 'yellow' : undefined) },
            { header: 'first', value: (row) => formatRelative(new Date(row.first), now) },
            { header: 'last', value: (row) => formatRelative(new Date(row.last), now) },
            { header: 'endpoints', value: endpointsOf, max: 60 },
          ]}
        />
      )}
      <Text> </Text>
      <FindingsSection<MetricsFinding>
        findings={report.findings}
        color={color}
        columns={[
          { header: 'kind', value: (row) => row.kind },
          { header: 'when', value: (row) => formatRelative(new Date(row.time), now) },
          { header: 'engineer', value: (row) => row.engineer || '-' },
          { header: 'request', value: (row) => row.requestId || '-' },
          { header: 'detail', value: (row) => row.detail, max: 70 },
        ]}
      />
      {report.skipped ? <Text dimColor>{report.skipped} line(s) were not metrics log entries and were skipped</Text> : null}
    </Box>
  );
}

import { Box, Text } from 'ink';
import type { AuditReport, EngineerSummary, Finding, RequestSummary } from '../../audit/audit.js';
import { formatRelative } from '../../util/duration.js';
import { Table } from '../table.js';
import { FindingsSection } from './findings.js';

const KIND_COLORS: Record<Finding['kind'], string> = { denied: 'red', 'non-system-table': 'red', 'query-text-read': 'red', 'login-failed': 'yellow', untagged: 'yellow', 'outside-window': 'red', 'tag-mismatch': 'red' };

export interface AuditViewProps {
  report: AuditReport;
  findingsOnly: boolean;
  color: boolean;
  now: Date;
}

export function AuditView({ report, findingsOnly, color, now }: AuditViewProps) {
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>Audit of {report.source}</Text> · {report.window.since} → {report.window.until}
      </Text>
      <Text> </Text>
      <FindingsSection<Finding>
        findings={report.findings}
        color={color}
        columns={[
          { header: 'kind', value: (row) => row.kind, color: (row) => KIND_COLORS[row.kind] },
          { header: 'when', value: (row) => formatRelative(new Date(row.row.time), now) },
          { header: 'engineer', value: (row) => row.row.engineer },
          { header: 'request', value: (row) => row.row.requestId ?? '-' },
          { header: 'detail', value: (row) => row.detail, max: 70 },
        ]}
      />
      {findingsOnly ? null : (
        <Box flexDirection="column">
          <Text> </Text>
          <Text bold>Per request</Text>
          <Table<RequestSummary>
            rows={report.requests}
            color={color}
            columns={[
              { header: 'request', value: (row) => row.requestId ?? '(untagged)' },
              { header: 'engineers', value: (row) => row.engineers.join(', ') },
              { header: 'queries', value: (row) => String(row.queries) },
              { header: 'failed', value: (row) => String(row.failures), color: (row) => (row.failures ? 'yellow' : undefined) },
              { header: 'denied', value: (row) => String(row.denied), color: (row) => (row.denied ? 'red' : undefined) },
              { header: 'rows read', value: (row) => String(row.readRows) },
              { header: 'first', value: (row) => formatRelative(new Date(row.first), now) },
              { header: 'last', value: (row) => formatRelative(new Date(row.last), now) },
            ]}
          />
          <Text> </Text>
          <Text bold>Per engineer</Text>
          <Table<EngineerSummary>
            rows={report.engineers}
            color={color}
            columns={[
              { header: 'engineer', value: (row) => row.engineer },
              { header: 'requests', value: (row) => row.requests.map((id) => id ?? '(untagged)').join(', ') },
              { header: 'queries', value: (row) => String(row.queries) },
              { header: 'failed', value: (row) => String(row.failures) },
              { header: 'denied', value: (row) => String(row.denied) },
              { header: 'bytes read', value: (row) => String(row.readBytes) },
            ]}
          />
        </Box>
      )}
    </Box>
  );
}

import { Box, Text } from 'ink';
import type { Check, CheckStatus } from '../../k8s/diagnose.js';
import { Table } from '../table.js';
import { displayWidth } from '../text.js';

const COLORS: Record<CheckStatus, string> = { PASS: 'green', WARN: 'yellow', FAIL: 'red', SKIPPED: 'gray' };
const TITLES: Record<string, string> = { volumes: 'Volumes (attach / mount)', nodes: 'Node network', health: 'Cluster health' };

interface K8sDiagnoseViewResult {
  service: string;
  server: string;
  areas: readonly string[];
  checks: readonly Check[];
}

const shortId = (check: Check) => check.id.replace(/^[a-z]+\./, '');

export interface K8sDiagnoseViewProps {
  result: K8sDiagnoseViewResult;
  color: boolean;
  columns: number;
}

/** One table per area, then the hint and kubectl command of every row that is not a PASS. */
export function K8sDiagnoseView({ result, color, columns }: K8sDiagnoseViewProps) {
  const tint = (status: CheckStatus) => (color ? { color: COLORS[status] } : {});
  const count = (status: CheckStatus) => result.checks.filter((check) => check.status === status).length;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>{result.service}</Text> {result.server} ·{' '}
        {(['FAIL', 'WARN', 'SKIPPED', 'PASS'] as const).map((status, index) => (
          <Text key={status} {...tint(status)}>
            {index > 0 ? ', ' : ''}
            {count(status)} {status}
          </Text>
        ))}
      </Text>
      {result.areas.map((area) => {
        const rows = result.checks.filter((check) => check.area === area);
        const attention = rows.filter((check) => check.status !== 'PASS');
        // Evidence takes what the other columns leave, so rows never wrap.
        const checkWidth = Math.min(28, Math.max(5, ...rows.map((row) => displayWidth(shortId(row)))));
        const objectWidth = Math.min(40, Math.max(6, ...rows.map((row) => displayWidth(row.object ?? '-'))));
        const evidenceWidth = Math.max(20, columns - 1 - (7 + 2) - (checkWidth + 2) - (objectWidth + 2));
        return (
          <Box key={area} flexDirection="column" marginTop={1}>
            <Text bold>{TITLES[area] ?? area}</Text>
            <Table<Check>
              rows={rows}
              color={color}
              columns={[
                { header: 'status', value: (row) => row.status, color: (row) => COLORS[row.status] },
                { header: 'check', value: shortId, max: 28 },
                { header: 'object', value: (row) => row.object ?? '-', max: 40 },
                { header: 'evidence', value: (row) => row.evidence, max: evidenceWidth },
              ]}
            />
            {attention.map((check, index) => (
              <Box key={index} flexDirection="column" marginLeft={2}>
                <Text>
                  <Text {...tint(check.status)}>›</Text> {check.object ?? check.id}: {check.hint}
                </Text>
                <Text dimColor>  $ {check.kubectl}</Text>
              </Box>
            ))}
          </Box>
        );
      })}
    </Box>
  );
}

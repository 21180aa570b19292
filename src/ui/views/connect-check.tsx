import { Box, Text } from 'ink';
import type { ConnectCheckResult, TargetReport } from '../../connect/path-check.js';
import { Table } from '../table.js';

const VERDICT_COLORS: Record<ConnectCheckResult['verdict'], string> = { direct: 'green', relayed: 'yellow', unreachable: 'red', 'tailscale-down': 'red', error: 'red' };
const PATH_COLORS: Record<string, string> = { direct: 'green', derp: 'yellow', 'peer-relay': 'yellow', unreachable: 'red', unknown: 'gray' };

const stage = (result: { ok: boolean; ms?: number } | { skipped: true }) =>
  'skipped' in result ? '-' : `${result.ok ? '✓' : '✗'}${result.ms === undefined ? '' : ` ${Math.round(result.ms)}ms`}`;

export interface ConnectCheckViewProps {
  result: ConnectCheckResult;
  color: boolean;
}

export function ConnectCheckView({ result, color }: ConnectCheckViewProps) {
  const tint = (name: string | undefined) => (color && name ? { color: name } : {});
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>{result.service}</Text> <Text bold {...tint(VERDICT_COLORS[result.verdict])}>{result.verdict}</Text>
        {result.tailscale.up ? null : <Text> · {result.tailscale.message}</Text>}
      </Text>
      {!result.tailscale.up && result.tailscale.nextStep ? <Text>next: {result.tailscale.nextStep}</Text> : null}
      <Text> </Text>
      <Table<TargetReport>
        rows={result.targets}
        color={color}
        columns={[
          { header: 'target', value: (row) => row.name },
          { header: 'path', value: (row) => row.path, color: (row) => PATH_COLORS[row.path] },
          { header: 'via', value: (row) => `${row.endpoint ?? (row.derpRegion ? `DERP ${row.derpRegion}` : '-')}${row.router ? ` (router ${row.router.name})` : ''}` },
          { header: 'latency', value: (row) => (row.latencyMs === null ? '-' : `${row.latencyMs}ms`) },
          { header: 'dns', value: (row) => stage(row.dns) },
          { header: 'tcp', value: (row) => stage(row.tcp) },
          { header: 'tls', value: (row) => stage(row.tls) },
          { header: 'host', value: (row) => row.host },
        ]}
      />
      {result.targets.flatMap((target) => target.advice.map((line, index) => (
        <Text key={`${target.name}-${index}`}>
          <Text {...tint('yellow')}>›</Text> {target.name}: {line}
        </Text>
      )))}
    </Box>
  );
}

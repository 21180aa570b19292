import { Box, Text } from 'ink';
import { Table } from '../table.js';

/** A metrics answer as an aligned table; the series column wraps, a sparkline keeps its cells. */
export function MetricsTable({ rows, columns, color, width }: { rows: readonly Record<string, string>[]; columns: readonly string[]; color: boolean; width: number }) {
  if (!rows.length) return <Text dimColor>no series</Text>;
  return (
    <Box flexDirection="column">
      <Table
        rows={rows}
        color={color}
        width={width}
        columns={columns.map((column) => ({
          header: column,
          value: (row: Record<string, string>) => row[column] ?? '',
          ...(column === 'series' || column === 'what it shows' ? { wrap: true } : column === 'sparkline' ? { max: 60, color: () => 'cyan' } : {}),
        }))}
      />
    </Box>
  );
}

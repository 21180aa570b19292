import { Box, Text } from 'ink';
import { Table } from '../table.js';

interface ExitCodeRow {
  code: number;
  name: string;
  meaning: string;
}

export interface ExitCodesViewProps {
  rows: readonly ExitCodeRow[];
  color: boolean;
  columns: number;
}

/** Runbooks quote these meanings: they wrap to the terminal, never cut. */
export function ExitCodesView({ rows, color, columns }: ExitCodesViewProps) {
  return (
    <Box flexDirection="column">
      <Text bold>byoc exit codes</Text>
      <Text> </Text>
      <Table
        rows={rows}
        color={color}
        width={columns}
        columns={[
          { header: 'code', value: (row) => String(row.code), color: (row) => (row.code === 0 ? 'green' : 'yellow') },
          { header: 'name', value: (row) => row.name },
          { header: 'meaning', value: (row) => row.meaning, wrap: true },
        ]}
      />
    </Box>
  );
}

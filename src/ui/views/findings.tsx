import { Box, Text } from 'ink';
import { Table, type Column } from '../table.js';

/** The findings block both audits show: "No findings." in green, or their count in red above their table. */
export function FindingsSection<T>({ findings, columns, color }: { findings: readonly T[]; columns: readonly Column<T>[]; color: boolean }) {
  const tint = (name: string) => (color ? { color: name } : {});
  if (findings.length === 0) return <Text {...tint('green')}>No findings.</Text>;
  return (
    <Box flexDirection="column">
      <Text bold {...tint('red')}>
        {findings.length} finding{findings.length === 1 ? '' : 's'}
      </Text>
      <Table<T> rows={findings} color={color} columns={columns} />
    </Box>
  );
}

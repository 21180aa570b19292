import { Box, Text } from 'ink';
import { Table } from '../table.js';

export interface PresetRow {
  name: string;
  description: string;
}

/** The curated queries by name, with how to run one (the SQL itself is in --json). */
export function PresetsView({ presets, color, columns }: { presets: readonly PresetRow[]; color: boolean; columns: number }) {
  return (
    <Box flexDirection="column">
      <Table
        rows={presets}
        color={color}
        width={columns}
        columns={[
          { header: 'preset', value: (row) => row.name, color: () => 'cyan' },
          { header: 'what it shows', value: (row) => row.description, wrap: true },
        ]}
      />
      <Text> </Text>
      <Text dimColor>Run one: byoc query SERVICE --preset {presets[0]?.name ?? 'NAME'} (its SQL: byoc query presets --json)</Text>
    </Box>
  );
}

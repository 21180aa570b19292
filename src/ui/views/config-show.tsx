import { Box, Text } from 'ink';
import type { ConfigShowResult } from '../../../commands/config/show.js';
import { display } from '../../util/format.js';
import { Table } from '../table.js';

const SOURCE_COLORS: Record<string, string> = { flag: 'magenta', env: 'yellow', file: 'cyan', default: 'gray' };

export function ConfigShowView({ result, color }: { result: ConfigShowResult; color: boolean }) {
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>config file </Text>
        {result.configFile ?? 'none found (defaults and environment only)'}
      </Text>
      <Text>
        <Text bold>state       </Text>
        {result.stateDir}
      </Text>
      <Text> </Text>
      <Table
        color={color}
        rows={result.values}
        columns={[
          { header: 'key', value: (row) => row.key },
          { header: 'value', value: (row) => display(row.value) || '-' },
          {
            header: 'source',
            value: (row) => (row.source === 'file' ? 'file' : row.source === undefined ? 'unset' : `${row.source}${row.origin ? ` ${row.origin}` : ''}`),
            color: (row) => SOURCE_COLORS[row.source ?? ''] ?? 'gray',
          },
        ]}
      />
    </Box>
  );
}

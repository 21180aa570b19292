import { Box, Text } from 'ink';
import { display } from '../../util/format.js';
import { Table } from '../table.js';

const SOURCE_COLORS: Record<string, string> = { flag: 'magenta', env: 'yellow', file: 'cyan', default: 'gray' };

/** One resolved setting: its key, value, and where the value came from (flag, env, file, default; none: unset). */
interface ConfigShowRow {
  key: string;
  value: unknown;
  source?: string | undefined;
  /** the flag, environment variable or file that supplied it */
  origin?: string | undefined;
}

/** Declared here, not taken from the command: `config show`'s result is one (the view never imports a command). */
export interface ConfigShowViewProps {
  result: { configFile: string | null; stateDir: string; values: readonly ConfigShowRow[] };
  color: boolean;
}

export function ConfigShowView({ result, color }: ConfigShowViewProps) {
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

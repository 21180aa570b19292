import { Box, Text } from 'ink';

export interface QueryCheckViewProps {
  allowed: boolean;
  reason: string;
  tables: readonly string[];
  color: boolean;
}

/** The guard's verdict on SQL (`query --check`), for a person: the decision first, then why. */
export function QueryCheckView({ allowed, reason, tables, color }: QueryCheckViewProps) {
  const tone = color ? { color: allowed ? 'green' : 'red' } : {};
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold {...tone}>
          {allowed ? '✓ allowed' : '✗ refused'}
        </Text>{' '}
        {reason}
      </Text>
      {tables.length ? <Text dimColor>tables: {tables.join(', ')}</Text> : null}
    </Box>
  );
}

import { Box, Text } from 'ink';
import { Table } from '../table.js';

export interface StatementVerdictRow {
  line: number;
  allowed: boolean;
  reason: string;
  statement: string;
}

/** The guard's verdict on each statement of a runbook (`query --check --file`): refusals stand out, then a count. */
export function QueryCheckFileView({ file, statements, color, columns }: { file: string; statements: readonly StatementVerdictRow[]; color: boolean; columns: number }) {
  const refused = statements.filter((entry) => !entry.allowed).length;
  return (
    <Box flexDirection="column">
      <Table
        rows={statements}
        color={color}
        width={columns}
        columns={[
          { header: 'line', value: (row) => String(row.line) },
          { header: 'verdict', value: (row) => (row.allowed ? '✓ allowed' : '✗ refused'), color: (row) => (row.allowed ? 'green' : 'red') },
          { header: 'statement', value: (row) => row.statement.replace(/\s+/g, ' '), max: 40 },
          { header: 'reason', value: (row) => row.reason, wrap: true },
        ]}
      />
      <Text> </Text>
      <Text bold={refused > 0} {...(color ? { color: refused ? 'red' : 'green' } : {})}>
        {refused ? `${refused} of ${statements.length} statements in ${file} refused` : `all ${statements.length} statements in ${file} allowed`}
      </Text>
    </Box>
  );
}

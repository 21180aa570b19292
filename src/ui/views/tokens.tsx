import { Text } from 'ink';
import type { TokenInfo } from '../../access/types.js';
import { formatRelative } from '../../util/duration.js';
import { Table } from '../table.js';

const STATE_COLORS: Record<TokenInfo['state'], string> = { active: 'green', expired: 'gray', revoked: 'red' };

export interface TokenListViewProps {
  tokens: readonly TokenInfo[];
  now: Date;
  color: boolean;
}

/** `byoc broker token list` on a terminal: one row a token, times relative to now. */
export function TokenListView({ tokens, now, color }: TokenListViewProps) {
  if (tokens.length === 0) return <Text dimColor>No tokens yet: byoc broker token create USER --ttl 30d</Text>;
  return (
    <Table
      rows={tokens}
      color={color}
      columns={[
        { header: 'id', value: (row) => row.id },
        { header: 'user', value: (row) => row.identity },
        { header: 'groups', value: (row) => row.groups.join(',') || '-', max: 30 },
        { header: 'created', value: (row) => formatRelative(new Date(row.createdAt), now) },
        { header: 'last used', value: (row) => (row.lastUsedAt ? formatRelative(new Date(row.lastUsedAt), now) : 'never') },
        { header: 'expires', value: (row) => (row.expiresAt ? formatRelative(new Date(row.expiresAt), now) : 'never') },
        { header: 'state', value: (row) => row.state, color: (row) => STATE_COLORS[row.state] },
      ]}
    />
  );
}
